"""Correct variants and plausible mistakes for transformer_captioning (see tests/mutation/__init__.py).

The notebook's namespace has math, np, torch, F (torch.nn.functional), nn and
dlcourse.transformer's TransformerDecoder and TransformerDecoderLayer; a variant imports
anything else it uses, as a student would. A variant may subclass the reference class
(``class MultiHeadAttention(MultiHeadAttention)``) to keep its constructor. The hidden
cases of CaptioningTransformer build the model with exact stand-ins for the attention and
the positional encoding, so a variant of one class is graded on its own cases.
"""

# The reference forward of MultiHeadAttention with one step changed, for the wrong variants.
_ATTENTION = '''
class MultiHeadAttention(MultiHeadAttention):
    def forward(self, query, key, value, attn_mask=None):
        N, S, E = query.shape
        N, T, E = value.shape
        H = self.n_head
        d = E // H
        {split}
        scores = {scores}
        if attn_mask is not None:
            {mask}
        {weights}
        heads = weights @ v  # (N, H, S, d)
        {merge}
        return output
'''
_ATTENTION_STEPS = {
    "split": '''q = self.query(query).view(N, S, H, d).transpose(1, 2)
        k = self.key(key).view(N, T, H, d).transpose(1, 2)
        v = self.value(value).view(N, T, H, d).transpose(1, 2)''',
    "scores": "q @ k.transpose(-2, -1) / math.sqrt(d)",
    "mask": 'scores = scores.masked_fill(attn_mask == 0, float("-inf"))',
    "weights": "weights = self.attn_drop(torch.softmax(scores, dim=-1))",
    "merge": "output = self.proj(heads.transpose(1, 2).reshape(N, S, E))",
}


def _attention(**changes) -> str:
    return _ATTENTION.format(**{**_ATTENTION_STEPS, **changes})


# The reference PositionalEncoding with its buffer or its forward changed.
_ENCODING = '''
class PositionalEncoding(nn.Module):
    def __init__(self, embed_dim, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(1, max_len, embed_dim)
        {fill}
        self.register_buffer("pe", pe)

    def forward(self, x):
        N, S, E = x.shape
        {forward}
'''
_ENCODING_STEPS = {
    "fill": '''i = torch.arange(max_len).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, -j / embed_dim)
        pe[0, :, 0::2] = torch.sin(angle)
        pe[0, :, 1::2] = torch.cos(angle)''',
    "forward": "return self.dropout(x + self.pe[:, :S])",
}


def _encoding(**changes) -> str:
    return _ENCODING.format(**{**_ENCODING_STEPS, **changes})


# The reference forward of CaptioningTransformer with one step changed.
_CAPTIONER = '''
class CaptioningTransformer(CaptioningTransformer):
    def forward(self, features, captions):
        N, T = captions.shape
        memory = self.visual_projection(features).unsqueeze(1)
        tgt = {target}
        {mask}
        out = {decoder}
        return self.output(out)
'''
_CAPTIONER_STEPS = {
    "target": "self.positional_encoding(self.embedding(captions))",
    "mask": "causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=captions.device))",
    "decoder": "self.transformer(tgt, memory, tgt_mask=causal)",
}


def _captioner(**changes) -> str:
    return _CAPTIONER.format(**{**_CAPTIONER_STEPS, **changes})


CORRECT = {
    "MultiHeadAttention": {
        "einsum, queries scaled first, torch.where mask": '''
        class MultiHeadAttention(MultiHeadAttention):
            def forward(self, query, key, value, attn_mask=None):
                N, S, E = query.shape
                T = key.shape[1]
                H = self.n_head
                d = E // H
                q = self.query(query).reshape(N, S, H, d) * d ** -0.5
                k = self.key(key).reshape(N, T, H, d)
                v = self.value(value).reshape(N, T, H, d)
                scores = torch.einsum("nshd,nthd->nhst", q, k)
                if attn_mask is not None:
                    allowed = torch.as_tensor(attn_mask, device=scores.device).bool()
                    scores = torch.where(allowed, scores, torch.full_like(scores, float("-inf")))
                weights = self.attn_drop(F.softmax(scores, dim=3))
                out = torch.einsum("nhst,nthd->nshd", weights, v).reshape(N, S, E)
                return self.proj(out)
        ''',
        "permute, additive -inf mask, softmax written out": '''
        class MultiHeadAttention(MultiHeadAttention):
            def forward(self, query, key, value, attn_mask=None):
                N, S, E = query.shape
                T = value.shape[1]
                H, d = self.n_head, self.head_dim
                q = self.query(query).view(N, S, H, d).permute(0, 2, 1, 3)
                k = self.key(key).view(N, T, H, d).permute(0, 2, 3, 1)  # (N, H, d, T)
                v = self.value(value).view(N, T, H, d).permute(0, 2, 1, 3)
                scores = torch.matmul(q, k) / math.sqrt(d)
                if attn_mask is not None:
                    penalty = torch.zeros(S, T, dtype=scores.dtype, device=scores.device)
                    scores = scores + penalty.masked_fill(attn_mask == 0, float("-inf"))
                scores = scores - scores.max(dim=-1, keepdim=True).values
                weights = scores.exp()
                weights = weights / weights.sum(dim=-1, keepdim=True)
                weights = self.attn_drop(weights)
                heads = torch.matmul(weights, v).permute(0, 2, 1, 3).contiguous().view(N, S, E)
                return self.proj(heads)
        ''',
        "own constructor, heads by chunk and stack": '''
        class MultiHeadAttention(nn.Module):
            def __init__(self, embed_dim, num_heads, dropout=0.1):
                super().__init__()
                assert embed_dim % num_heads == 0
                self.key = nn.Linear(embed_dim, embed_dim)
                self.query = nn.Linear(embed_dim, embed_dim)
                self.value = nn.Linear(embed_dim, embed_dim)
                self.proj = nn.Linear(embed_dim, embed_dim)
                self.attn_drop = nn.Dropout(dropout)
                self.heads = num_heads

            def forward(self, query, key, value, attn_mask=None):
                def split(x):  # (N, L, E) -> (N, H, L, E/H)
                    return torch.stack(x.chunk(self.heads, dim=-1), dim=1)

                q, k, v = split(self.query(query)), split(self.key(key)), split(self.value(value))
                scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])
                if attn_mask is not None:
                    scores = scores.masked_fill(~attn_mask.bool(), -math.inf)
                out = self.attn_drop(scores.softmax(dim=-1)) @ v
                return self.proj(torch.cat(out.unbind(dim=1), dim=-1))
        ''',
        "scaled_dot_product_attention with attn_drop's probability in training": '''
        class MultiHeadAttention(MultiHeadAttention):
            def forward(self, query, key, value, attn_mask=None):
                N, S, E = query.shape
                T = key.shape[1]
                H = self.n_head
                q = self.query(query).view(N, S, H, -1).transpose(1, 2)
                k = self.key(key).view(N, T, H, -1).transpose(1, 2)
                v = self.value(value).view(N, T, H, -1).transpose(1, 2)
                mask = None if attn_mask is None else attn_mask.to(dtype=torch.bool, device=q.device)
                p = self.attn_drop.p if self.training else 0.0
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
                return self.proj(out.transpose(1, 2).reshape(N, S, E))
        ''',
    },
    "PositionalEncoding": {
        "exp(-log(10000) j / E) in float32, the usual div_term": '''
        class PositionalEncoding(nn.Module):
            def __init__(self, embed_dim, dropout=0.1, max_len=5000):
                super().__init__()
                self.dropout = nn.Dropout(p=dropout)
                assert embed_dim % 2 == 0
                position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
                div_term = torch.exp(torch.arange(0, embed_dim, 2, dtype=torch.float32)
                                     * (-math.log(10000.0) / embed_dim))
                pe = torch.zeros(1, max_len, embed_dim)
                pe[0, :, 0::2] = torch.sin(position * div_term)
                pe[0, :, 1::2] = torch.cos(position * div_term)
                self.register_buffer("pe", pe)

            def forward(self, x):
                return self.dropout(x + self.pe[:, : x.size(1), :])
        ''',
        "sin and cos stacked on a last axis and flattened, float64 angles": '''
        class PositionalEncoding(nn.Module):
            def __init__(self, embed_dim, dropout=0.1, max_len=5000):
                super().__init__()
                self.dropout = nn.Dropout(dropout)
                i = torch.arange(max_len, dtype=torch.float64)[:, None]
                freq = 10000.0 ** (-torch.arange(0, embed_dim, 2, dtype=torch.float64) / embed_dim)
                angles = i * freq  # (max_len, E/2)
                pe = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(1, max_len, embed_dim)
                self.register_buffer("pe", pe.to(torch.get_default_dtype()))

            def forward(self, x):
                out = x + self.pe[0, : x.shape[1]]
                return self.dropout(out)
        ''',
        "one exponent per column with (j - j % 2), torch.where": '''
        class PositionalEncoding(nn.Module):
            def __init__(self, embed_dim, dropout=0.1, max_len=5000):
                super().__init__()
                self.dropout = nn.Dropout(p=dropout)
                j = torch.arange(embed_dim)
                i = torch.arange(max_len)[:, None]
                angle = i / 10000 ** ((j - j % 2) / embed_dim)  # (max_len, E)
                pe = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle)).unsqueeze(0)
                self.register_buffer("pe", pe)

            def forward(self, x):
                S = x.shape[1]
                return self.dropout(x + self.pe[:, :S].expand_as(x))
        ''',
    },
    "CaptioningTransformer": {
        "float lower-triangular mask, memory by indexing": '''
        class CaptioningTransformer(CaptioningTransformer):
            def forward(self, features, captions):
                N, T = captions.shape
                memory = self.visual_projection(features)[:, None, :]
                x = self.embedding(captions)
                x = self.positional_encoding(x)
                mask = torch.ones(T, T, device=captions.device).tril()
                return self.output(self.transformer(x, memory, tgt_mask=mask))
        ''',
        "complement of the strict upper triangle, view for the memory": '''
        class CaptioningTransformer(CaptioningTransformer):
            def forward(self, features, captions):
                N, T = captions.shape
                memory = self.visual_projection(features).view(N, 1, -1)
                tgt = self.positional_encoding(self.embedding(captions))
                future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=captions.device), diagonal=1)
                return self.output(self.transformer(tgt, memory, tgt_mask=~future))
        ''',
        "int64 mask from comparing positions": '''
        class CaptioningTransformer(CaptioningTransformer):
            def forward(self, features, captions):
                T = captions.shape[1]
                pos = torch.arange(T, device=captions.device)
                mask = (pos[None, :] <= pos[:, None]).long()  # mask[s, t] = 1 when t <= s
                memory = self.visual_projection(features).unsqueeze(dim=1)
                words = self.positional_encoding(self.embedding(captions))
                decoded = self.transformer(words, memory, tgt_mask=mask)
                return self.output(decoded)
        ''',
    },
}

WRONG = {
    "MultiHeadAttention": {
        "scores divided by d, not sqrt(d)": _attention(scores="q @ k.transpose(-2, -1) / d"),
        "scores divided by sqrt(E), not sqrt(E/H)": _attention(scores="q @ k.transpose(-2, -1) / math.sqrt(E)"),
        "scores not scaled": _attention(scores="q @ k.transpose(-2, -1)"),
        "mask applied after the softmax": _attention(
            mask="pass",
            weights='''weights = torch.softmax(scores, dim=-1)
        if attn_mask is not None:
            weights = weights.masked_fill(attn_mask == 0, 0.0)
        weights = self.attn_drop(weights)'''),
        "mask convention inverted (1 = forbidden)": _attention(
            mask='scores = scores.masked_fill(attn_mask == 1, float("-inf"))'),
        "dropout on the output, not the weights": _attention(
            weights="weights = torch.softmax(scores, dim=-1)",
            merge="output = self.attn_drop(self.proj(heads.transpose(1, 2).reshape(N, S, E)))"),
        "softmax over the queries": _attention(weights="weights = self.attn_drop(torch.softmax(scores, dim=-2))"),
        "heads split by view without transpose": _attention(split='''q = self.query(query).view(N, H, S, d)
        k = self.key(key).view(N, H, T, d)
        v = self.value(value).view(N, H, T, d)'''),
        "heads merged without transpose": _attention(merge="output = self.proj(heads.reshape(N, S, E))"),
        "query and key projections swapped": _attention(split='''q = self.key(query).view(N, S, H, d).transpose(1, 2)
        k = self.query(key).view(N, T, H, d).transpose(1, 2)
        v = self.value(value).view(N, T, H, d).transpose(1, 2)'''),
    },
    "PositionalEncoding": {
        "sin and cos swapped": _encoding(fill='''i = torch.arange(max_len).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, -j / embed_dim)
        pe[0, :, 0::2] = torch.cos(angle)
        pe[0, :, 1::2] = torch.sin(angle)'''),
        "sin in the first half, cos in the second (not interleaved)": _encoding(fill='''i = torch.arange(max_len).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, -j / embed_dim)
        pe[0] = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)'''),
        "odd columns with exponent j, not j - 1": _encoding(fill='''i = torch.arange(max_len).unsqueeze(1)
        even = torch.arange(0, embed_dim, 2)
        odd = torch.arange(1, embed_dim, 2)
        pe[0, :, 0::2] = torch.sin(i * torch.pow(10000.0, -even / embed_dim))
        pe[0, :, 1::2] = torch.cos(i * torch.pow(10000.0, -odd / embed_dim))'''),
        "exponent 2j/E with j the even column": _encoding(fill='''i = torch.arange(max_len).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, -2 * j / embed_dim)
        pe[0, :, 0::2] = torch.sin(angle)
        pe[0, :, 1::2] = torch.cos(angle)'''),
        "positive exponent 10000^(j/E)": _encoding(fill='''i = torch.arange(max_len).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, j / embed_dim)
        pe[0, :, 0::2] = torch.sin(angle)
        pe[0, :, 1::2] = torch.cos(angle)'''),
        "positions counted from 1": _encoding(fill='''i = torch.arange(1, max_len + 1).unsqueeze(1)
        j = torch.arange(0, embed_dim, 2)
        angle = i * torch.pow(10000.0, -j / embed_dim)
        pe[0, :, 0::2] = torch.sin(angle)
        pe[0, :, 1::2] = torch.cos(angle)'''),
        "dropout before adding the code": _encoding(forward="return self.dropout(x) + self.pe[:, :S]"),
        "no dropout": _encoding(forward="return x + self.pe[:, :S]"),
    },
    "CaptioningTransformer": {
        "no causal mask": _captioner(mask="pass", decoder="self.transformer(tgt, memory)"),
        "upper-triangular mask (words see the future)": _captioner(
            mask="causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=captions.device))"),
        "diagonal left out (a word cannot see itself)": _captioner(
            mask="causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=captions.device), diagonal=-1)"),
        "positional encoding left out": _captioner(target="self.embedding(captions)"),
        "word vectors scaled by sqrt(W)": _captioner(
            target="self.positional_encoding(self.embedding(captions) * math.sqrt(self.embedding.embedding_dim))"),
        "memory is the image feature, not its projection": '''
        class CaptioningTransformer(CaptioningTransformer):
            def forward(self, features, captions):
                T = captions.shape[1]
                tgt = self.positional_encoding(self.embedding(captions))
                causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=captions.device))
                return self.output(self.transformer(tgt, features.unsqueeze(1), tgt_mask=causal))
        ''',
    },
}
