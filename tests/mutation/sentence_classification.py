"""Correct variants and plausible mistakes for sentence_classification (see tests/mutation/__init__.py).

The model's variants subclass the reference and override methods (or rebuild the class),
so each one changes what a student writes in one place. The training epoch runs on the
float32 model and labels of the notebook; the accuracy on a stand-in model with one
parameter.
"""

CORRECT = {
    "ClassificationTransformer": {
        "einsum attention, functional softmax and relu, sliced position table": '''
        class ClassificationTransformer(ClassificationTransformer):
            def embed(self, inputs):
                T = inputs.size(1)
                return self.embeddingL(inputs) + self.posembeddingL.weight[:T].unsqueeze(0)

            def multi_head_attention(self, inputs):
                outs = []
                for h in (1, 2):
                    q = getattr(self, f"q{h}")(inputs)
                    k = getattr(self, f"k{h}")(inputs)
                    v = getattr(self, f"v{h}")(inputs)
                    scores = torch.einsum("nsd,ntd->nst", q, k) / self.dim_k ** 0.5
                    outs.append(torch.einsum("nst,ntd->nsd", torch.nn.functional.softmax(scores, dim=-1), v))
                return self.norm_mh(self.attention_head_projection(torch.cat(outs, dim=-1)) + inputs)

            def feedforward_layer(self, inputs):
                hidden = torch.nn.functional.relu(self.ffn1(inputs))
                return self.norm_ffn(self.ffn2(hidden) + inputs)

            def final_layer(self, inputs):
                return torch.sigmoid(self.final(inputs[:, 0, :]))

            def forward(self, inputs):
                x = self.embed(inputs)
                x = self.multi_head_attention(x)
                x = self.feedforward_layer(x)
                return self.final_layer(x)
        ''',
        "rebuilt class: scaled_dot_product_attention, expanded positions, scaled queries": '''
        class ClassificationTransformer(nn.Module):
            def __init__(self, word_to_ix, hidden_dim=128, num_heads=2, dim_feedforward=2048,
                         dim_k=96, dim_v=96, dim_q=96, max_length=43):
                super().__init__()
                assert num_heads == 2
                self.num_heads, self.hidden_dim, self.max_length = num_heads, hidden_dim, max_length
                self.dim_k, self.dim_v, self.dim_q = dim_k, dim_v, dim_q
                seed_torch(0)
                self.embeddingL = nn.Embedding(len(word_to_ix), hidden_dim)
                self.posembeddingL = nn.Embedding(max_length, hidden_dim)
                self.k1 = nn.Linear(hidden_dim, dim_k)
                self.v1 = nn.Linear(hidden_dim, dim_v)
                self.q1 = nn.Linear(hidden_dim, dim_q)
                self.k2 = nn.Linear(hidden_dim, dim_k)
                self.v2 = nn.Linear(hidden_dim, dim_v)
                self.q2 = nn.Linear(hidden_dim, dim_q)
                self.softmax = nn.Softmax(dim=2)
                self.attention_head_projection = nn.Linear(dim_v * num_heads, hidden_dim)
                self.norm_mh = nn.LayerNorm(hidden_dim)
                self.ffn1 = nn.Linear(hidden_dim, dim_feedforward)
                self.ffn2 = nn.Linear(dim_feedforward, hidden_dim)
                self.norm_ffn = nn.LayerNorm(hidden_dim)
                self.final = nn.Linear(hidden_dim, 1)
                self.sigmoid = nn.Sigmoid()

            def embed(self, inputs):
                N, T = inputs.shape
                positions = self.posembeddingL(torch.arange(T, device=inputs.device)).expand(N, T, -1)
                return self.embeddingL(inputs) + positions

            def _head(self, x, q, k, v):
                queries = q(x) / math.sqrt(self.dim_k)
                return torch.nn.functional.scaled_dot_product_attention(queries, k(x), v(x), scale=1.0)

            def multi_head_attention(self, inputs):
                heads = torch.cat([self._head(inputs, self.q1, self.k1, self.v1),
                                   self._head(inputs, self.q2, self.k2, self.v2)], dim=2)
                return torch.nn.functional.layer_norm(
                    inputs + self.attention_head_projection(heads), (self.hidden_dim,),
                    self.norm_mh.weight, self.norm_mh.bias, self.norm_mh.eps)

            def feedforward_layer(self, inputs):
                return self.norm_ffn(inputs + self.ffn2(self.ffn1(inputs).clamp(min=0)))

            def final_layer(self, inputs):
                return self.sigmoid(self.final(inputs[:, :1])).reshape(-1, 1)

            def forward(self, inputs):
                return self.final_layer(self.feedforward_layer(self.multi_head_attention(self.embed(inputs))))
        ''',
        "bmm with an explicit exp-normalise softmax, key width from the tensor": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for q, k, v in ((self.q1, self.k1, self.v1), (self.q2, self.k2, self.v2)):
                    K = k(inputs)
                    scores = torch.bmm(q(inputs), K.permute(0, 2, 1)) / math.sqrt(K.shape[-1])
                    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
                    weights = weights / weights.sum(dim=-1, keepdim=True)
                    heads.append(torch.bmm(weights, v(inputs)))
                return self.norm_mh(inputs + self.attention_head_projection(torch.cat(heads, -1)))
        ''',
    },
    "accuracy": {
        "device of the parameters, torch.split, torch.round (0.5 rounds to 0)": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            device = next(model.parameters()).device
            hits = 0
            with torch.no_grad():
                for xb, yb in zip(inputs.split(batch_size), labels.split(batch_size)):
                    p = model(xb.to(device)).view(-1)
                    hits += int((torch.round(p) == yb.to(device).to(p.dtype)).sum())
            return hits / len(labels)
        ''',
        "inference mode, predictions concatenated, float32 mean": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            preds = []
            with torch.inference_mode():
                for i in range(0, len(inputs), batch_size):
                    preds.append(model(inputs[i:i + batch_size])[:, 0].gt(0.5))
            return (torch.cat(preds).float() == labels.float()).float().mean().item()
        ''',
        "numpy on the probabilities, model dtype from its parameters": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.train(False)
            dtype = next(model.parameters()).dtype
            probs = []
            with torch.no_grad():
                start = 0
                while start < inputs.shape[0]:
                    probs.append(model(inputs[start:start + batch_size]).to(dtype).numpy().ravel())
                    start += batch_size
            predicted = np.concatenate(probs) > 0.5
            return float(np.mean(predicted == labels.numpy().astype(bool)))
        ''',
    },
    "matthews_corrcoef": {
        "Pearson correlation of the 0/1 vectors in float32": '''
        def matthews_corrcoef(predicted, labels):
            x = predicted.float() - predicted.float().mean()
            y = labels.float() - labels.float().mean()
            den = torch.sqrt((x * x).sum() * (y * y).sum())
            return float((x * y).sum() / den) if den > 0 else 0.0
        ''',
        "Python loop over the pairs, ZeroDivisionError for the 0/0 case": '''
        def matthews_corrcoef(predicted, labels):
            tp = tn = fp = fn = 0
            for p, y in zip(predicted.tolist(), labels.tolist()):
                if p == 1 and y == 1:
                    tp += 1
                elif p == 0 and y == 0:
                    tn += 1
                elif p == 1:
                    fp += 1
                else:
                    fn += 1
            try:
                return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            except ZeroDivisionError:
                return 0.0
        ''',
        "numpy confusion matrix by bincount, float32 counts": '''
        def matthews_corrcoef(predicted, labels):
            cells = 2 * labels.numpy().astype(int) + predicted.numpy().astype(int)
            tn, fp, fn, tp = np.bincount(cells, minlength=4).astype(np.float32)
            den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            return float((tp * tn - fp * fn) / den) if den else 0.0
        ''',
        "arguments swapped (MCC is symmetric), tensor counts and a tiny epsilon": '''
        def matthews_corrcoef(predicted, labels):
            a, b = labels.double(), predicted.double()
            tp, tn = (a * b).sum(), ((1 - a) * (1 - b)).sum()
            fp, fn = (a * (1 - b)).sum(), ((1 - a) * b).sum()
            den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)).sqrt()
            return ((tp * tn - fp * fn) / (den + 1e-12)).item()
        ''',
    },
    "train_one_epoch": {
        "hand-written cross-entropy, torch.split, labels.float()": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            perm = torch.randperm(len(inputs), generator=generator)
            losses, counts = [], []
            for idx in torch.split(perm, batch_size):
                optimizer.zero_grad()
                p = model(inputs[idx]).view(-1)
                y = labels[idx].float()
                loss = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                counts.append(len(idx))
            return sum(l * c for l, c in zip(losses, counts)) / sum(counts)
        ''',
        "BCELoss module, device of the parameters, model.zero_grad, tensor total": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            device = next(model.parameters()).device
            model.train()
            criterion = nn.BCELoss()
            order = torch.randperm(inputs.shape[0], generator=generator)
            total = torch.zeros(())
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                x, y = inputs[idx].to(device), labels[idx].to(device, torch.float32)
                model.zero_grad()
                loss = criterion(model(x).squeeze(-1), y)
                loss.backward()
                optimizer.step()
                total += loss.detach().cpu() * x.shape[0]
            return (total / inputs.shape[0]).item()
        ''',
    },
}

WRONG = {
    "ClassificationTransformer": {
        "no 1/sqrt(dim_k) scaling": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for k, v, q in ((self.k1, self.v1, self.q1), (self.k2, self.v2, self.q2)):
                    weights = self.softmax(q(inputs) @ k(inputs).transpose(1, 2))
                    heads.append(weights @ v(inputs))
                return self.norm_mh(inputs + self.attention_head_projection(torch.cat(heads, dim=2)))
        ''',
        "scaled by sqrt(hidden_dim)": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for k, v, q in ((self.k1, self.v1, self.q1), (self.k2, self.v2, self.q2)):
                    weights = self.softmax(q(inputs) @ k(inputs).transpose(1, 2) / math.sqrt(self.hidden_dim))
                    heads.append(weights @ v(inputs))
                return self.norm_mh(inputs + self.attention_head_projection(torch.cat(heads, dim=2)))
        ''',
        "softmax over the queries": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for k, v, q in ((self.k1, self.v1, self.q1), (self.k2, self.v2, self.q2)):
                    scores = q(inputs) @ k(inputs).transpose(1, 2) / math.sqrt(self.dim_k)
                    heads.append(torch.softmax(scores, dim=1) @ v(inputs))
                return self.norm_mh(inputs + self.attention_head_projection(torch.cat(heads, dim=2)))
        ''',
        "heads concatenated in the other order": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for k, v, q in ((self.k2, self.v2, self.q2), (self.k1, self.v1, self.q1)):
                    weights = self.softmax(q(inputs) @ k(inputs).transpose(1, 2) / math.sqrt(self.dim_k))
                    heads.append(weights @ v(inputs))
                return self.norm_mh(inputs + self.attention_head_projection(torch.cat(heads, dim=2)))
        ''',
        "attention: normalises the projection before the residual sum": '''
        class ClassificationTransformer(ClassificationTransformer):
            def multi_head_attention(self, inputs):
                heads = []
                for k, v, q in ((self.k1, self.v1, self.q1), (self.k2, self.v2, self.q2)):
                    weights = self.softmax(q(inputs) @ k(inputs).transpose(1, 2) / math.sqrt(self.dim_k))
                    heads.append(weights @ v(inputs))
                return inputs + self.norm_mh(self.attention_head_projection(torch.cat(heads, dim=2)))
        ''',
        "positions counted from 1": '''
        class ClassificationTransformer(ClassificationTransformer):
            def embed(self, inputs):
                positions = torch.arange(1, inputs.shape[1] + 1, device=inputs.device)
                return self.embeddingL(inputs) + self.posembeddingL(positions)[None]
        ''',
        "feed-forward without the ReLU": '''
        class ClassificationTransformer(ClassificationTransformer):
            def feedforward_layer(self, inputs):
                return self.norm_ffn(inputs + self.ffn2(self.ffn1(inputs)))
        ''',
        "classifies from the last position": '''
        class ClassificationTransformer(ClassificationTransformer):
            def final_layer(self, inputs):
                return self.sigmoid(self.final(inputs[:, -1]))
        ''',
        "classifies the mean over positions": '''
        class ClassificationTransformer(ClassificationTransformer):
            def final_layer(self, inputs):
                return self.sigmoid(self.final(inputs.mean(dim=1)))
        ''',
        "forward skips the feed-forward layer": '''
        class ClassificationTransformer(ClassificationTransformer):
            def forward(self, inputs):
                return self.final_layer(self.multi_head_attention(self.embed(inputs)))
        ''',
        "word embedding with padding_idx=0": '''
        class ClassificationTransformer(ClassificationTransformer):
            def __init__(self, word_to_ix, **kwargs):
                super().__init__(word_to_ix, **kwargs)
                with torch.no_grad():
                    self.embeddingL.padding_idx = 0
                    self.embeddingL.weight[0].zero_()
        ''',
        "second feed-forward layer created before the first": '''
        class ClassificationTransformer(ClassificationTransformer):
            def __init__(self, word_to_ix, hidden_dim=128, num_heads=2, dim_feedforward=2048,
                         dim_k=96, dim_v=96, dim_q=96, max_length=43):
                nn.Module.__init__(self)
                self.num_heads, self.hidden_dim, self.max_length = num_heads, hidden_dim, max_length
                self.dim_k, self.dim_v, self.dim_q = dim_k, dim_v, dim_q
                seed_torch(0)
                self.embeddingL = nn.Embedding(len(word_to_ix), hidden_dim)
                self.posembeddingL = nn.Embedding(max_length, hidden_dim)
                self.k1 = nn.Linear(hidden_dim, dim_k)
                self.v1 = nn.Linear(hidden_dim, dim_v)
                self.q1 = nn.Linear(hidden_dim, dim_q)
                self.k2 = nn.Linear(hidden_dim, dim_k)
                self.v2 = nn.Linear(hidden_dim, dim_v)
                self.q2 = nn.Linear(hidden_dim, dim_q)
                self.softmax = nn.Softmax(dim=2)
                self.attention_head_projection = nn.Linear(dim_v * num_heads, hidden_dim)
                self.norm_mh = nn.LayerNorm(hidden_dim)
                self.ffn2 = nn.Linear(dim_feedforward, hidden_dim)
                self.ffn1 = nn.Linear(hidden_dim, dim_feedforward)
                self.norm_ffn = nn.LayerNorm(hidden_dim)
                self.final = nn.Linear(hidden_dim, 1)
                self.sigmoid = nn.Sigmoid()
        ''',
    },
    "accuracy": {
        "probability 0.5 counted as acceptable": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            correct = 0
            with torch.no_grad():
                for start in range(0, inputs.shape[0], batch_size):
                    probs = model(inputs[start:start + batch_size]).squeeze(1)
                    correct += ((probs >= 0.5).float() == labels[start:start + batch_size]).sum().item()
            return correct / inputs.shape[0]
        ''',
        "left in training mode": '''
        def accuracy(model, inputs, labels, batch_size=256):
            correct = 0
            with torch.no_grad():
                for start in range(0, inputs.shape[0], batch_size):
                    probs = model(inputs[start:start + batch_size]).squeeze(1)
                    correct += ((probs > 0.5).float() == labels[start:start + batch_size]).sum().item()
            return correct / inputs.shape[0]
        ''',
        "last, shorter batch skipped": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            correct = 0
            with torch.no_grad():
                for start in range(0, inputs.shape[0] - batch_size + 1, batch_size):
                    probs = model(inputs[start:start + batch_size]).squeeze(1)
                    correct += ((probs > 0.5).float() == labels[start:start + batch_size]).sum().item()
            return correct / inputs.shape[0]
        ''',
        "mean of the batches' accuracies": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            accs = []
            with torch.no_grad():
                for start in range(0, inputs.shape[0], batch_size):
                    probs = model(inputs[start:start + batch_size]).squeeze(1)
                    accs.append(((probs > 0.5).float() == labels[start:start + batch_size]).float().mean().item())
            return sum(accs) / len(accs)
        ''',
        "probabilities (N, 1) compared with labels (N,) without a squeeze": '''
        def accuracy(model, inputs, labels, batch_size=256):
            model.eval()
            correct = 0
            with torch.no_grad():
                for start in range(0, inputs.shape[0], batch_size):
                    probs = model(inputs[start:start + batch_size])
                    correct += ((probs > 0.5).float() == labels[start:start + batch_size]).float().mean().item() \\
                        * len(probs)
            return correct / inputs.shape[0]
        ''',
    },
    "matthews_corrcoef": {
        "plus instead of minus in the numerator": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.bool(), labels.bool()
            tp, tn = int((p & y).sum()), int((~p & ~y).sum())
            fp, fn = int((p & ~y).sum()), int((~p & y).sum())
            den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
            return (tp * tn + fp * fn) / math.sqrt(den) if den else 0.0
        ''',
        "no square root in the denominator": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.bool(), labels.bool()
            tp, tn = int((p & y).sum()), int((~p & ~y).sum())
            fp, fn = int((p & ~y).sum()), int((~p & y).sum())
            den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
            return (tp * tn - fp * fn) / den if den else 0.0
        ''',
        "no 0/0 case: NaN for a constant predictor": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.double(), labels.double()
            tp, tn = (p * y).sum(), ((1 - p) * (1 - y)).sum()
            fp, fn = (p * (1 - y)).sum(), ((1 - p) * y).sum()
            return ((tp * tn - fp * fn) / torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))).item()
        ''',
        "true negatives counted as N - TP - FP": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.bool(), labels.bool()
            tp, fp, fn = int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum())
            tn = len(p) - tp - fp
            den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
            return (tp * tn - fp * fn) / math.sqrt(den) if den else 0.0
        ''',
        "true and false positives mixed up": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.bool(), labels.bool()
            tp, tn = int((p & ~y).sum()), int((~p & ~y).sum())
            fp, fn = int((p & y).sum()), int((~p & y).sum())
            den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
            return (tp * tn - fp * fn) / math.sqrt(den) if den else 0.0
        ''',
        "1.0 instead of 0.0 when a constant predictor is always right": '''
        def matthews_corrcoef(predicted, labels):
            p, y = predicted.bool(), labels.bool()
            tp, tn = int((p & y).sum()), int((~p & ~y).sum())
            fp, fn = int((p & ~y).sum()), int((~p & y).sum())
            den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
            if den == 0:
                return 1.0 if fp + fn == 0 else 0.0
            return (tp * tn - fp * fn) / math.sqrt(den)
        ''',
    },
    "train_one_epoch": {
        "no shuffling (the generator is ignored)": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                probs = model(inputs[start:start + batch_size]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[start:start + batch_size].to(probs.dtype))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(probs)
            return total / inputs.shape[0]
        ''',
        "gradients never zeroed": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0], generator=generator)
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float())
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            return total / inputs.shape[0]
        ''',
        "unweighted mean of the batch losses": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0], generator=generator)
            losses = []
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            return sum(losses) / len(losses)
        ''',
        "last, shorter batch dropped": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0], generator=generator)
            total, seen = 0.0, 0
            for start in range(0, inputs.shape[0] - batch_size + 1, batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            return total / seen
        ''',
        "labels taken in the original order": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0], generator=generator)
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[start:start + batch_size].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            return total / inputs.shape[0]
        ''',
        "summed loss: steps as large as the batch": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0], generator=generator)
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float(), reduction="sum")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item()
            return total / inputs.shape[0]
        ''',
        "never switched to training mode": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            order = torch.randperm(inputs.shape[0], generator=generator)
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            return total / inputs.shape[0]
        ''',
        "order drawn without the generator": '''
        def train_one_epoch(model, optimizer, inputs, labels, batch_size=64, generator=None):
            model.train()
            order = torch.randperm(inputs.shape[0])
            total = 0.0
            for start in range(0, inputs.shape[0], batch_size):
                idx = order[start:start + batch_size]
                probs = model(inputs[idx]).squeeze(1)
                loss = nn.functional.binary_cross_entropy(probs, labels[idx].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            return total / inputs.shape[0]
        ''',
    },
}
