"""Correct variants and plausible mistakes for style_transfer (see tests/mutation/__init__.py).

The notebook's namespace has torch, np and the student's gram_matrix; a variant imports
anything else it uses, as a student would. Variants of style_loss use the reference
gram_matrix unless they say otherwise. Run through the harness, a variant's source cannot
be read back (it is exec'd), so tv_loss_vectorised judges its bytecode, as the case does
for any function whose source Python cannot find.
"""

CORRECT = {
    "content_loss": {
        "mse_loss with reduction='sum'": '''
        import torch.nn.functional as F

        def content_loss(content_weight, content_current, content_original):
            return content_weight * F.mse_loss(content_current, content_original, reduction="sum")
        ''',
        "squared Frobenius norm of the difference": '''
        def content_loss(content_weight, content_current, content_original):
            return content_weight * torch.linalg.vector_norm(content_current - content_original) ** 2
        ''',
        "flattened dot product, target detached": '''
        def content_loss(content_weight, content_current, content_original):
            d = (content_current - content_original.detach()).reshape(-1)
            return content_weight * torch.dot(d, d)
        ''',
        "loop over channels": '''
        def content_loss(content_weight, content_current, content_original):
            total = 0
            for c in range(content_current.shape[1]):
                total = total + ((content_current[0, c] - content_original[0, c]) ** 2).sum()
            return content_weight * total
        ''',
    },
    "gram_matrix": {
        "einsum, divided by features[0].numel()": '''
        def gram_matrix(features, normalize=True):
            gram = torch.einsum("nchw,ndhw->ncd", features, features)
            if normalize:
                gram = gram / features[0].numel()
            return gram
        ''',
        "flatten(2) and @ with .mT": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.size()
            F_ = features.flatten(start_dim=2)  # (N, C, H*W)
            G = F_ @ F_.mT
            return G / (C * H * W) if normalize else G
        ''',
        "loop over the images of the batch": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            grams = []
            for n in range(N):
                f = features[n].view(C, H * W)
                grams.append(torch.mm(f, f.t()))
            gram = torch.stack(grams)
            if normalize:
                gram /= H * W * C
            return gram
        ''',
        "matmul with transpose(-1, -2), normalised by a float": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            flat = features.reshape(N, C, -1)
            gram = torch.matmul(flat, flat.transpose(-1, -2))
            return gram * (1.0 / float(C * H * W)) if normalize else gram
        ''',
    },
    "style_loss": {
        "generator expression with mse_loss(reduction='sum')": '''
        import torch.nn.functional as F

        def style_loss(feats, style_layers, style_targets, style_weights):
            return sum(w * F.mse_loss(gram_matrix(feats[l]), t, reduction="sum")
                       for l, t, w in zip(style_layers, style_targets, style_weights))
        ''',
        "index loop, stacked terms": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            terms = []
            for i in range(len(style_layers)):
                G = gram_matrix(feats[style_layers[i]])
                terms.append(style_weights[i] * torch.sum(torch.square(G - style_targets[i])))
            return torch.stack(terms).sum()
        ''',
        "own einsum Gram, enumerate": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            loss = torch.zeros((), dtype=feats[style_layers[0]].dtype)
            for k, layer in enumerate(style_layers):
                f = feats[layer]
                G = torch.einsum("nchw,ndhw->ncd", f, f) / f[0].numel()
                loss = loss + style_weights[k] * (G - style_targets[k]).pow(2).sum()
            return loss
        ''',
    },
    "tv_loss": {
        "torch.diff": '''
        def tv_loss(img, tv_weight):
            return tv_weight * (torch.diff(img, dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum())
        ''',
        "mse_loss of shifted slices, reduction='sum'": '''
        import torch.nn.functional as F

        def tv_loss(img, tv_weight):
            vertical = F.mse_loss(img[..., 1:, :], img[..., :-1, :], reduction="sum")
            horizontal = F.mse_loss(img[..., 1:], img[..., :-1], reduction="sum")
            return tv_weight * (vertical + horizontal)
        ''',
        "torch.roll with the wrap-around row and column cut off": '''
        def tv_loss(img, tv_weight):
            down = (torch.roll(img, shifts=-1, dims=2) - img)[:, :, :-1, :]
            right = (torch.roll(img, shifts=-1, dims=3) - img)[:, :, :, :-1]
            return tv_weight * (down.square().sum() + right.square().sum())
        ''',
        "difference filters with a grouped convolution": '''
        import torch.nn.functional as F

        def tv_loss(img, tv_weight):
            C = img.shape[1]
            k_down = img.new_tensor([[-1.0], [1.0]]).expand(C, 1, 2, 1)
            k_right = img.new_tensor([[-1.0, 1.0]]).expand(C, 1, 1, 2)
            down = F.conv2d(img, k_down, groups=C)
            right = F.conv2d(img, k_right, groups=C)
            return tv_weight * ((down ** 2).sum() + (right ** 2).sum())
        ''',
    },
}

WRONG = {
    "content_loss": {
        "mean instead of sum": '''
        def content_loss(content_weight, content_current, content_original):
            return content_weight * ((content_current - content_original) ** 2).mean()
        ''',
        "weight left out": '''
        def content_loss(content_weight, content_current, content_original):
            return ((content_current - content_original) ** 2).sum()
        ''',
        "norm, not squared": '''
        def content_loss(content_weight, content_current, content_original):
            return content_weight * torch.norm(content_current - content_original)
        ''',
        "features weighted before squaring (w^2)": '''
        def content_loss(content_weight, content_current, content_original):
            return ((content_weight * content_current - content_weight * content_original) ** 2).sum()
        ''',
        "a Python float: .item() cuts the gradient": '''
        def content_loss(content_weight, content_current, content_original):
            return content_weight * ((content_current - content_original) ** 2).sum().item()
        ''',
        "computed in numpy: no gradient reaches the pixels": '''
        def content_loss(content_weight, content_current, content_original):
            d = content_current.detach().numpy() - content_original.detach().numpy()
            return torch.tensor(content_weight * np.sum(d ** 2))
        ''',
        "current features detached": '''
        def content_loss(content_weight, content_current, content_original):
            return content_weight * ((content_current.detach() - content_original) ** 2).sum()
        ''',
    },
    "gram_matrix": {
        "normalised by H * W only": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            g = torch.einsum("nchw,ndhw->ncd", features, features)
            return g / (H * W) if normalize else g
        ''',
        "normalised by N * C * H * W (features.numel())": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            flat = features.reshape(N, C, H * W)
            g = torch.bmm(flat, flat.transpose(1, 2))
            return g / features.numel() if normalize else g
        ''',
        "always normalised": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            flat = features.reshape(N, C, H * W)
            return torch.bmm(flat, flat.transpose(1, 2)) / (C * H * W)
        ''',
        "reshaped to (N, H*W, C) without permuting": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            flat = features.reshape(N, H * W, C)  # scrambles channels and positions
            g = torch.bmm(flat.transpose(1, 2), flat)
            return g / (C * H * W) if normalize else g
        ''',
        "the first image's Gram matrix for the whole batch": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            f = features[0].reshape(C, H * W)
            g = (f @ f.T).expand(N, C, C)
            return g / (C * H * W) if normalize else g
        ''',
        "computed in numpy: no gradient": '''
        def gram_matrix(features, normalize=True):
            N, C, H, W = features.shape
            a = features.detach().cpu().numpy().reshape(N, C, H * W)
            g = torch.from_numpy(a @ a.transpose(0, 2, 1))
            return g / (C * H * W) if normalize else g
        ''',
    },
    "style_loss": {
        "unnormalised Gram matrices": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            total = 0.0
            for layer, target, weight in zip(style_layers, style_targets, style_weights):
                total = total + weight * ((gram_matrix(feats[layer], normalize=False) - target) ** 2).sum()
            return total
        ''',
        "feats[k] instead of feats[style_layers[k]]": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            total = 0.0
            for k in range(len(style_layers)):
                total = total + style_weights[k] * ((gram_matrix(feats[k]) - style_targets[k]) ** 2).sum()
            return total
        ''',
        "mean of squared differences": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            total = 0.0
            for layer, target, weight in zip(style_layers, style_targets, style_weights):
                total = total + weight * ((gram_matrix(feats[layer]) - target) ** 2).mean()
            return total
        ''',
        "only the last layer (total overwritten)": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            for layer, target, weight in zip(style_layers, style_targets, style_weights):
                total = weight * ((gram_matrix(feats[layer]) - target) ** 2).sum()
            return total
        ''',
        "weights summed outside the loop": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            total = 0.0
            for layer, target in zip(style_layers, style_targets):
                total = total + ((gram_matrix(feats[layer]) - target) ** 2).sum()
            return sum(style_weights) * total
        ''',
        "terms accumulated with .item(): no gradient": '''
        def style_loss(feats, style_layers, style_targets, style_weights):
            total = 0.0
            for layer, target, weight in zip(style_layers, style_targets, style_weights):
                total += weight * ((gram_matrix(feats[layer]) - target) ** 2).sum().item()
            return torch.tensor(total)
        ''',
    },
    "tv_loss": {
        "absolute differences": '''
        def tv_loss(img, tv_weight):
            return tv_weight * (torch.diff(img, dim=2).abs().sum() + torch.diff(img, dim=3).abs().sum())
        ''',
        "last row dropped (off by one)": '''
        def tv_loss(img, tv_weight):
            return tv_weight * (torch.diff(img[:, :, :-1], dim=2).pow(2).sum() + torch.diff(img, dim=3).pow(2).sum())
        ''',
        "slices shifted by two": '''
        def tv_loss(img, tv_weight):
            down = img[:, :, 2:, :] - img[:, :, :-2, :]
            right = img[:, :, :, 2:] - img[:, :, :, :-2]
            return tv_weight * ((down ** 2).sum() + (right ** 2).sum())
        ''',
        "means instead of sums": '''
        def tv_loss(img, tv_weight):
            return tv_weight * (torch.diff(img, dim=2).pow(2).mean() + torch.diff(img, dim=3).pow(2).mean())
        ''',
        "vertical differences twice, horizontal ones forgotten": '''
        def tv_loss(img, tv_weight):
            down = img[:, :, 1:, :] - img[:, :, :-1, :]
            return tv_weight * 2 * (down ** 2).sum()
        ''',
        "torch.roll with the wrap-around kept": '''
        def tv_loss(img, tv_weight):
            down = torch.roll(img, shifts=-1, dims=2) - img
            right = torch.roll(img, shifts=-1, dims=3) - img
            return tv_weight * (down.square().sum() + right.square().sum())
        ''',
        "a loop over rows": '''
        def tv_loss(img, tv_weight):
            total = 0.0
            for i in range(img.shape[2] - 1):
                total = total + ((img[:, :, i + 1] - img[:, :, i]) ** 2).sum()
            return tv_weight * (total + ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).sum())
        ''',
        "numpy: vectorised but without a gradient": '''
        def tv_loss(img, tv_weight):
            a = img.detach().numpy()
            return torch.tensor(tv_weight * (np.sum(np.diff(a, axis=2) ** 2) + np.sum(np.diff(a, axis=3) ** 2)))
        ''',
    },
}
