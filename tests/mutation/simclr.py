"""Correct variants and plausible mistakes for simclr (see tests/mutation/__init__.py).

The notebook's namespace has random, time, np, torch, nn, Image, transforms, CIFAR10,
CIFAR_MEAN and CIFAR_STD; a variant imports anything else it uses, as a student would.
The reference functions stay defined, so a variant of one name is graded together with
the reference versions of the others (simclr_loss_vectorized calls the student's
compute_sim_matrix and sim_positive_pairs, train calls simclr_loss_vectorized).
"""

# The transform of the docstring, as the wrong variants below change one part of it.
_TRANSFORM = '''
def compute_train_transform(seed=123456):
    random.seed(seed)
    torch.random.manual_seed(seed)
    return transforms.Compose([
        {crop},
        {flip},
        {jitter},
        {grey},
        transforms.ToTensor(),
        {normalize}
    ])
'''
_PARTS = {
    "crop": "transforms.RandomResizedCrop(32)",
    "flip": "transforms.RandomHorizontalFlip(p=0.5)",
    "jitter": "transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)",
    "grey": "transforms.RandomGrayscale(p=0.2)",
    "normalize": "transforms.Normalize(CIFAR_MEAN, CIFAR_STD),",
}


def _transform(**changes) -> str:
    return _TRANSFORM.format(**{**_PARTS, **changes})


CORRECT = {
    "compute_train_transform": {
        "RandomApply of Grayscale, keyword arguments, tuple ranges": '''
        def compute_train_transform(seed=123456):
            random.seed(seed)
            torch.random.manual_seed(seed)
            steps = [
                transforms.RandomResizedCrop(size=(32, 32), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
                transforms.RandomHorizontalFlip(),
                transforms.RandomApply([transforms.ColorJitter(brightness=0.4, contrast=0.4,
                                                               saturation=0.4, hue=0.1)], p=0.8),
                transforms.RandomApply([transforms.Grayscale(num_output_channels=3)], p=0.2),
                transforms.ToTensor(),
                transforms.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD),
            ]
            return transforms.Compose(steps)
        ''',
        "torchvision.transforms.v2, ToImage and ToDtype(float32, scale=True)": '''
        from torchvision.transforms import v2

        def compute_train_transform(seed=123456):
            random.seed(seed)
            torch.random.manual_seed(seed)
            return v2.Compose([
                v2.RandomResizedCrop(32),
                v2.RandomHorizontalFlip(p=0.5),
                v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                v2.RandomGrayscale(p=0.2),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(list(CIFAR_MEAN), list(CIFAR_STD)),
            ])
        ''',
        "PILToTensor, ConvertImageDtype and a normalising Lambda in float32": '''
        def compute_train_transform(seed=123456):
            random.seed(seed)
            torch.random.manual_seed(seed)
            mean = torch.tensor(CIFAR_MEAN, dtype=torch.float32).view(3, 1, 1)
            std = torch.tensor(CIFAR_STD, dtype=torch.float32).view(3, 1, 1)
            jitter = transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
            return transforms.Compose([
                transforms.RandomResizedCrop(32),
                transforms.RandomHorizontalFlip(0.5),
                transforms.RandomApply(torch.nn.ModuleList([jitter]), p=0.8),
                transforms.RandomGrayscale(0.2),
                transforms.PILToTensor(),
                transforms.ConvertImageDtype(torch.float32),
                transforms.Lambda(lambda x: (x - mean) / std),
            ])
        ''',
    },
    "CIFAR10Pair": {
        "the parent's __getitem__ called twice": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                x_i, target = super().__getitem__(index)
                x_j, _ = super().__getitem__(index)
                return x_i, x_j, target
        ''',
        "one helper for both views, label transformed first": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                label = self.targets[index]
                if self.target_transform:
                    label = self.target_transform(label)
                image = Image.fromarray(np.asarray(self.data[index]))
                view = self.transform if self.transform is not None else (lambda im: im)
                return view(image), view(image), label
        ''',
    },
    "sim": {
        "F.cosine_similarity along dim 0": '''
        import torch.nn.functional as F

        def sim(z_i, z_j):
            return F.cosine_similarity(z_i, z_j, dim=0)
        ''',
        "unit vectors first, then their dot product": '''
        def sim(z_i, z_j):
            u = z_i / z_i.norm()
            v = z_j / z_j.norm()
            return (u * v).sum()
        ''',
        "sums of squares, one square root": '''
        def sim(z_i, z_j):
            return torch.sum(z_i * z_j) / torch.sqrt(torch.sum(z_i ** 2) * torch.sum(z_j ** 2))
        ''',
    },
    "simclr_loss_naive": {
        "full sum minus the self term": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                for i, j in ((k, k + N), (k + N, k)):
                    everything = sum(torch.exp(sim(out[i], out[m]) / tau) for m in range(2 * N))
                    denom = everything - torch.exp(sim(out[i], out[i]) / tau)
                    total_loss += -torch.log(torch.exp(sim(out[i], out[j]) / tau) / denom)
            return total_loss / (2 * N)
        ''',
        "loop over all 2N rows, log-sum-exp of the others": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            terms = []
            for i in range(2 * N):
                j = (i + N) % (2 * N)
                others = torch.stack([sim(out[i], out[m]) / tau for m in range(2 * N) if m != i])
                terms.append(torch.logsumexp(others, dim=0) - sim(out[i], out[j]) / tau)
            return torch.stack(terms).mean()
        ''',
    },
    "sim_positive_pairs": {
        "F.cosine_similarity, unsqueeze": '''
        import torch.nn.functional as F

        def sim_positive_pairs(out_left, out_right):
            return F.cosine_similarity(out_left, out_right, dim=1).unsqueeze(1)
        ''',
        "einsum of the rows over the product of the norms": '''
        def sim_positive_pairs(out_left, out_right):
            dots = torch.einsum("nd,nd->n", out_left, out_right)
            norms = out_left.norm(dim=1) * out_right.norm(dim=1)
            return (dots / norms).reshape(-1, 1)
        ''',
        "a loop over the pairs with sim (slow but right)": '''
        def sim_positive_pairs(out_left, out_right):
            return torch.stack([sim(a, b) for a, b in zip(out_left, out_right)])[:, None]
        ''',
    },
    "compute_sim_matrix": {
        "F.cosine_similarity with broadcasting": '''
        import torch.nn.functional as F

        def compute_sim_matrix(out):
            return F.cosine_similarity(out[:, None, :], out[None, :, :], dim=-1)
        ''',
        "Gram matrix over the outer product of the norms": '''
        def compute_sim_matrix(out):
            norms = torch.sqrt((out ** 2).sum(dim=1))
            return (out @ out.t()) / torch.outer(norms, norms)
        ''',
        "F.normalize then einsum": '''
        import torch.nn.functional as F

        def compute_sim_matrix(out):
            z = F.normalize(out, dim=1)
            return torch.einsum("id,jd->ij", z, z)
        ''',
    },
    "simclr_loss_vectorized": {
        "cross-entropy over logits with a -inf diagonal": '''
        import torch.nn.functional as F

        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            logits = compute_sim_matrix(out) / tau
            self_mask = torch.eye(2 * N, dtype=torch.bool, device=device)
            logits = logits.masked_fill(self_mask, float("-inf"))
            targets = torch.cat([torch.arange(N, 2 * N), torch.arange(N)]).to(device)
            return F.cross_entropy(logits, targets)
        ''',
        "row sums minus the diagonal": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            e = torch.exp(compute_sim_matrix(out) / tau)
            denom = e.sum(dim=1) - torch.diagonal(e)
            pos = sim_positive_pairs(out_left, out_right).squeeze(1)
            pos = torch.cat([pos, pos])
            return (torch.log(denom) - pos / tau).mean()
        ''',
        "float mask multiplied in, log-softmax form": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            mask = 1.0 - torch.eye(2 * N, device=device)  # float32: promoted to the similarities' dtype
            denom = (torch.exp(compute_sim_matrix(out) / tau) * mask).sum(dim=1, keepdim=True)
            pos = sim_positive_pairs(out_left, out_right).repeat(2, 1)
            return -(pos / tau - torch.log(denom)).sum() / (2 * N)
        ''',
    },
    "train": {
        "zero_grad after the step, len() for the pairs": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                z_i = model(x_i.to(device))[1]
                z_j = model(x_j.to(device))[1]
                loss = simclr_loss_vectorized(z_i, z_j, temperature, device)
                loss.backward()
                train_optimizer.step()
                train_optimizer.zero_grad()
                total_num += len(x_i)
                total_loss += float(loss) * len(x_i)
            return total_loss / max(total_num, 1)
        ''',
        "device of the parameters, set_to_none=False, tensor accumulator": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            where = next(model.parameters()).device
            losses, sizes = [], []
            for step, (x_i, x_j, target) in enumerate(data_loader):
                x_i = x_i.to(where, non_blocking=True)
                x_j = x_j.to(where, non_blocking=True)
                train_optimizer.zero_grad(set_to_none=False)
                h_i, z_i = model(x_i)
                h_j, z_j = model(x_j)
                loss = simclr_loss_vectorized(z_i, z_j, tau=temperature, device=where)
                loss.backward()
                train_optimizer.step()
                losses.append(loss.detach() * x_i.size(0))
                sizes.append(x_i.size(0))
            return (torch.stack(losses).sum() / sum(sizes)).item()
        ''',
    },
}

WRONG = {
    "compute_train_transform": {
        "grayscale probability 0.15": _transform(grey="transforms.RandomGrayscale(p=0.15)"),
        "grayscale probability 0.25": _transform(grey="transforms.RandomGrayscale(p=0.25)"),
        "jitter and grayscale probabilities swapped": _transform(
            jitter="transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.2)",
            grey="transforms.RandomGrayscale(p=0.8)"),
        "jitter applied with probability 0.5": _transform(
            jitter="transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.5)"),
        "jitter always applied (no RandomApply)": _transform(
            jitter="transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)"),
        "jitter of strength 1 (0.8, 0.8, 0.8, 0.2)": _transform(
            jitter="transforms.RandomApply([transforms.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8)"),
        "crop scale (0.2, 1.0)": _transform(crop="transforms.RandomResizedCrop(32, scale=(0.2, 1.0))"),
        "flip probability 0.3": _transform(flip="transforms.RandomHorizontalFlip(p=0.3)"),
        "vertical flip": _transform(flip="transforms.RandomVerticalFlip(p=0.5)"),
        "no normalisation": _transform(normalize=""),
        "grayscale before jitter": _transform(
            jitter="transforms.RandomGrayscale(p=0.2)",
            grey="transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)"),
    },
    "CIFAR10Pair": {
        "one view returned twice": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                img, target = Image.fromarray(self.data[index]), self.targets[index]
                x_i = self.transform(img) if self.transform is not None else img
                x_j = x_i
                if self.target_transform is not None:
                    target = self.target_transform(target)
                return x_i, x_j, target
        ''',
        "target_transform ignored": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                img, target = Image.fromarray(self.data[index]), self.targets[index]
                if self.transform is None:
                    return img, img, target
                return self.transform(img), self.transform(img), target
        ''',
        "transform applied to the uint8 array": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                img, target = self.data[index], self.targets[index]
                x_i, x_j = img, img
                if self.transform is not None:
                    x_i, x_j = self.transform(img), self.transform(img)
                if self.target_transform is not None:
                    target = self.target_transform(target)
                return x_i, x_j, target
        ''',
        "the index returned as the label": '''
        class CIFAR10Pair(CIFAR10):
            def __getitem__(self, index):
                img = Image.fromarray(self.data[index])
                x_i, x_j = img, img
                if self.transform is not None:
                    x_i, x_j = self.transform(img), self.transform(img)
                target = index
                if self.target_transform is not None:
                    target = self.target_transform(target)
                return x_i, x_j, target
        ''',
    },
    "sim": {
        "dot product, not cosine": '''
        def sim(z_i, z_j):
            return torch.dot(z_i, z_j)
        ''',
        "divided by the squared norms": '''
        def sim(z_i, z_j):
            return torch.dot(z_i, z_j) / (z_i.norm() ** 2 * z_j.norm() ** 2)
        ''',
        "normalised by the first vector only": '''
        def sim(z_i, z_j):
            return torch.dot(z_i, z_j) / z_i.norm() ** 2
        ''',
        "cosine distance 1 - cos": '''
        def sim(z_i, z_j):
            return 1 - torch.dot(z_i, z_j) / (z_i.norm() * z_j.norm())
        ''',
        "L1 norms": '''
        def sim(z_i, z_j):
            return torch.dot(z_i, z_j) / (z_i.norm(p=1) * z_j.norm(p=1))
        ''',
    },
    "simclr_loss_naive": {
        "self term in the denominator": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                for i, j in ((k, k + N), (k + N, k)):
                    denom = sum(torch.exp(sim(out[i], out[m]) / tau) for m in range(2 * N))
                    total_loss += -torch.log(torch.exp(sim(out[i], out[j]) / tau) / denom)
            return total_loss / (2 * N)
        ''',
        "positive left out of the denominator": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                for i, j in ((k, k + N), (k + N, k)):
                    denom = sum(torch.exp(sim(out[i], out[m]) / tau) for m in range(2 * N) if m not in (i, j))
                    total_loss += -torch.log(torch.exp(sim(out[i], out[j]) / tau) / denom)
            return total_loss / (2 * N)
        ''',
        "temperature outside the exponential": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                for i, j in ((k, k + N), (k + N, k)):
                    denom = sum(torch.exp(sim(out[i], out[m])) / tau for m in range(2 * N) if m != i)
                    total_loss += -torch.log(torch.exp(sim(out[i], out[j])) / tau / denom)
            return total_loss / (2 * N)
        ''',
        "only l(k, k+N), the right views' terms left out": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                denom = sum(torch.exp(sim(out[k], out[m]) / tau) for m in range(2 * N) if m != k)
                total_loss += -torch.log(torch.exp(sim(out[k], out[k + N]) / tau) / denom)
            return total_loss / (2 * N)
        ''',
        "divided by N, not 2N": '''
        def simclr_loss_naive(out_left, out_right, tau):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            total_loss = 0
            for k in range(N):
                for i, j in ((k, k + N), (k + N, k)):
                    denom = sum(torch.exp(sim(out[i], out[m]) / tau) for m in range(2 * N) if m != i)
                    total_loss += -torch.log(torch.exp(sim(out[i], out[j]) / tau) / denom)
            return total_loss / N
        ''',
    },
    "sim_positive_pairs": {
        "shape (N,), not (N, 1)": '''
        def sim_positive_pairs(out_left, out_right):
            left = out_left / out_left.norm(dim=1, keepdim=True)
            right = out_right / out_right.norm(dim=1, keepdim=True)
            return (left * right).sum(dim=1)
        ''',
        "rows not normalised (dot products)": '''
        def sim_positive_pairs(out_left, out_right):
            return (out_left * out_right).sum(dim=1, keepdim=True)
        ''',
        "normalised along the batch axis": '''
        def sim_positive_pairs(out_left, out_right):
            left = out_left / out_left.norm(dim=0, keepdim=True)
            right = out_right / out_right.norm(dim=0, keepdim=True)
            return (left * right).sum(dim=1, keepdim=True)
        ''',
        "only the left rows normalised": '''
        def sim_positive_pairs(out_left, out_right):
            left = out_left / out_left.norm(dim=1, keepdim=True)
            return (left * out_right).sum(dim=1, keepdim=True)
        ''',
    },
    "compute_sim_matrix": {
        "normalised along the batch axis": '''
        def compute_sim_matrix(out):
            unit = out / out.norm(dim=0, keepdim=True)
            return unit @ unit.T
        ''',
        "no normalisation (Gram matrix)": '''
        def compute_sim_matrix(out):
            return out @ out.T
        ''',
        "diagonal set to zero": '''
        def compute_sim_matrix(out):
            unit = out / out.norm(dim=1, keepdim=True)
            return (unit @ unit.T).fill_diagonal_(0)
        ''',
        "features, not rows, compared: (D, D)": '''
        def compute_sim_matrix(out):
            unit = out / out.norm(dim=1, keepdim=True)
            return unit.T @ unit
        ''',
    },
    "simclr_loss_vectorized": {
        "self term in the denominator": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            denom = torch.exp(compute_sim_matrix(out) / tau).sum(dim=1, keepdim=True)
            pos = torch.exp(torch.cat([sim_positive_pairs(out_left, out_right)] * 2) / tau)
            return torch.mean(-torch.log(pos / denom))
        ''',
        "diagonal zeroed before the exponential (exp(0) = 1 stays)": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            S = compute_sim_matrix(out) * (1 - torch.eye(2 * N, device=device))
            denom = torch.exp(S / tau).sum(dim=1, keepdim=True)
            pos = torch.exp(torch.cat([sim_positive_pairs(out_left, out_right)] * 2) / tau)
            return torch.mean(-torch.log(pos / denom))
        ''',
        "temperature outside the exponential": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            e = torch.exp(compute_sim_matrix(out)) / tau
            mask = ~torch.eye(2 * N, dtype=torch.bool, device=device)
            denom = (e * mask).sum(dim=1, keepdim=True)
            pos = torch.exp(torch.cat([sim_positive_pairs(out_left, out_right)] * 2)) / tau
            return torch.mean(-torch.log(pos / denom))
        ''',
        "summed, not averaged over the 2N views": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            e = torch.exp(compute_sim_matrix(out) / tau)
            mask = ~torch.eye(2 * N, dtype=torch.bool, device=device)
            denom = (e * mask).sum(dim=1, keepdim=True)
            pos = torch.exp(torch.cat([sim_positive_pairs(out_left, out_right)] * 2) / tau)
            return torch.sum(-torch.log(pos / denom))
        ''',
        "positive pair left out of the denominator": '''
        def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
            N = out_left.shape[0]
            out = torch.cat([out_left, out_right], dim=0)
            e = torch.exp(compute_sim_matrix(out) / tau)
            idx = torch.arange(2 * N, device=device)
            keep = torch.ones(2 * N, 2 * N, dtype=torch.bool, device=device)
            keep[idx, idx] = False
            keep[idx, (idx + N) % (2 * N)] = False
            denom = (e * keep).sum(dim=1, keepdim=True)
            pos = torch.exp(torch.cat([sim_positive_pairs(out_left, out_right)] * 2) / tau)
            return torch.mean(-torch.log(pos / denom))
        ''',
    },
    "train": {
        "optimizer.zero_grad never called": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i, x_j = x_i.to(device), x_j.to(device)
                _, z_i = model(x_i)
                _, z_j = model(x_j)
                loss = simclr_loss_vectorized(z_i, z_j, temperature, device)
                loss.backward()
                train_optimizer.step()
                total_num += x_i.shape[0]
                total_loss += loss.item() * x_i.shape[0]
            return total_loss / max(total_num, 1)
        ''',
        "mean weighted by batch_size, not the pairs of each batch": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i, x_j = x_i.to(device), x_j.to(device)
                _, z_i = model(x_i)
                _, z_j = model(x_j)
                loss = simclr_loss_vectorized(z_i, z_j, temperature, device)
                train_optimizer.zero_grad()
                loss.backward()
                train_optimizer.step()
                total_num += batch_size
                total_loss += loss.item() * batch_size
            return total_loss / max(total_num, 1)
        ''',
        "temperature not passed on (the loss's own 0.5)": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i, x_j = x_i.to(device), x_j.to(device)
                _, z_i = model(x_i)
                _, z_j = model(x_j)
                loss = simclr_loss_vectorized(z_i, z_j, 0.5, device)
                train_optimizer.zero_grad()
                loss.backward()
                train_optimizer.step()
                total_num += x_i.shape[0]
                total_loss += loss.item() * x_i.shape[0]
            return total_loss / max(total_num, 1)
        ''',
        "loss on the representations h, not z": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i, x_j = x_i.to(device), x_j.to(device)
                h_i, _ = model(x_i)
                h_j, _ = model(x_j)
                loss = simclr_loss_vectorized(h_i, h_j, temperature, device)
                train_optimizer.zero_grad()
                loss.backward()
                train_optimizer.step()
                total_num += x_i.shape[0]
                total_loss += loss.item() * x_i.shape[0]
            return total_loss / max(total_num, 1)
        ''',
        "step before backward": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i, x_j = x_i.to(device), x_j.to(device)
                _, z_i = model(x_i)
                _, z_j = model(x_j)
                loss = simclr_loss_vectorized(z_i, z_j, temperature, device)
                train_optimizer.zero_grad()
                train_optimizer.step()
                loss.backward()
                total_num += x_i.shape[0]
                total_loss += loss.item() * x_i.shape[0]
            return total_loss / max(total_num, 1)
        ''',
        "the first view used twice": '''
        def train(model, data_loader, train_optimizer, epoch, epochs, batch_size=32, temperature=0.5, device="cuda"):
            model.train()
            total_loss, total_num = 0.0, 0
            for x_i, x_j, _ in data_loader:
                x_i = x_i.to(device)
                _, z_i = model(x_i)
                _, z_j = model(x_i)
                loss = simclr_loss_vectorized(z_i, z_j, temperature, device)
                train_optimizer.zero_grad()
                loss.backward()
                train_optimizer.step()
                total_num += x_i.shape[0]
                total_loss += loss.item() * x_i.shape[0]
            return total_loss / max(total_num, 1)
        ''',
    },
}
