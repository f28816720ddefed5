"""Correct variants and plausible mistakes for network_visualization (see tests/mutation/__init__.py).

The notebook's namespace has torch, nn and np; a variant imports anything else it uses,
as a student would.
"""

CORRECT = {
    "compute_saliency_maps": {
        "autograd.grad, advanced indexing, max(...).values": '''
        def compute_saliency_maps(X, y, model):
            model.eval()
            X = X.clone().detach().requires_grad_()
            scores = model(X)
            picked = scores[torch.arange(X.shape[0]), y]
            grad, = torch.autograd.grad(picked.sum(), X)
            return grad.abs().max(dim=1).values
        ''',
        "one image at a time": '''
        def compute_saliency_maps(X, y, model):
            model.eval()
            maps = []
            for i in range(X.shape[0]):
                x = X[i:i + 1].detach().clone().requires_grad_(True)
                model(x)[0, int(y[i])].backward()
                maps.append(x.grad[0].abs().amax(dim=0))
            return torch.stack(maps)
        ''',
        "one-hot mask, requires_grad on X itself, device from the model": '''
        import torch.nn.functional as F

        def compute_saliency_maps(X, y, model):
            model.eval()
            X.requires_grad_()
            scores = model(X)
            mask = F.one_hot(y.to(next(model.parameters()).device), scores.shape[1]).to(scores.dtype)
            (scores * mask).sum().backward()
            saliency, _ = torch.max(torch.abs(X.grad), dim=1)
            return saliency
        ''',
        "backward with a gradient vector (vector-Jacobian product)": '''
        def compute_saliency_maps(X, y, model):
            model.eval()
            X = X.detach().requires_grad_(True)
            scores = model(X)
            upstream = torch.zeros_like(scores)
            upstream[torch.arange(len(y)), y] = 1.0
            scores.backward(upstream)
            return X.grad.data.abs().max(1)[0]
        ''',
    },
    "make_fooling_image": {
        "fresh leaf each step with autograd.grad": '''
        def make_fooling_image(X, target_y, model):
            model.eval()
            learning_rate, max_iter = 1, 100
            X_fooling = X.detach().clone()
            for _ in range(max_iter):
                X_fooling.requires_grad_(True)
                scores = model(X_fooling)
                if scores.argmax(dim=1).item() == target_y:
                    break
                g, = torch.autograd.grad(scores[0, target_y], X_fooling)
                X_fooling = (X_fooling + learning_rate * g / torch.sqrt(torch.sum(g * g))).detach()
            return X_fooling.detach()
        ''',
        "while loop on .data, gradient set to None": '''
        def make_fooling_image(X, target_y, model):
            model.eval()
            learning_rate, max_iter = 1, 100
            X_fooling = X.clone().requires_grad_()
            it = 0
            while it < max_iter:
                scores = model(X_fooling)
                if int(torch.argmax(scores[0])) == target_y:
                    break
                scores[0][target_y].backward()
                g = X_fooling.grad.data
                X_fooling.data += learning_rate * g / torch.linalg.vector_norm(g)
                X_fooling.grad = None
                it += 1
            return X_fooling.detach()
        ''',
        "descent on the negative score, norm by linalg.norm of the flat gradient": '''
        def make_fooling_image(X, target_y, model):
            model.eval()
            learning_rate, max_iter = 1, 100
            X_fooling = X.detach().clone().requires_grad_(True)
            for _ in range(max_iter):
                scores = model(X_fooling)
                if scores.max(dim=1).indices.item() == target_y:
                    break
                loss = -scores[:, target_y].sum()
                loss.backward()
                with torch.no_grad():
                    g = X_fooling.grad
                    X_fooling -= learning_rate * g / torch.linalg.norm(g.flatten())
                X_fooling.grad.zero_()
            return X_fooling.detach()
        ''',
    },
    "class_visualization_update_step": {
        "autograd.grad, in-place add_ on .data": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            objective = model(img)[0, target_y] - l2_reg * torch.sum(img * img)
            g, = torch.autograd.grad(objective, img)
            img.data.add_(learning_rate * g / g.norm())
        ''',
        "penalty gradient by hand (-2 l2_reg img), gradient cleared first": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            if img.grad is not None:
                img.grad.zero_()
            model(img)[0, target_y].backward()
            with torch.no_grad():
                g = img.grad - 2 * l2_reg * img
                img.add_(g, alpha=learning_rate / float(g.norm()))
            img.grad = None
        ''',
        "descent on the negated objective": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            loss = -(model(img)[:, target_y].sum() - l2_reg * img.norm() ** 2)
            loss.backward()
            with torch.no_grad():
                img -= learning_rate * img.grad / img.grad.norm()
                img.grad.zero_()
        ''',
    },
}

WRONG = {
    "compute_saliency_maps": {
        "sum over the channels": '''
        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            model(X).gather(1, y.view(-1, 1)).sum().backward()
            return X.grad.abs().sum(dim=1)
        ''',
        "the class after the correct one": '''
        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            model(X).gather(1, ((y + 1) % 10).view(-1, 1)).sum().backward()
            return X.grad.abs().amax(dim=1)
        ''',
        "no absolute value": '''
        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            model(X).gather(1, y.view(-1, 1)).sum().backward()
            return X.grad.amax(dim=1)
        ''',
        "maximum over the batch axis": '''
        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            model(X).gather(1, y.view(-1, 1)).sum().backward()
            return X.grad.abs().amax(dim=0)
        ''',
        "gradient of the cross-entropy loss, not of the score": '''
        import torch.nn.functional as F

        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            F.cross_entropy(model(X), y, reduction="sum").backward()
            return X.grad.abs().amax(dim=1)
        ''',
        "gradient of the softmax probability": '''
        def compute_saliency_maps(X, y, model):
            X = X.detach().clone().requires_grad_(True)
            probs = model(X).softmax(dim=1)
            probs.gather(1, y.view(-1, 1)).sum().backward()
            return X.grad.abs().amax(dim=1)
        ''',
    },
    "make_fooling_image": {
        "unnormalised steps": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                if int(s.argmax()) == target_y:
                    break
                s[0, target_y].backward()
                with torch.no_grad():
                    Z += Z.grad
                    Z.grad.zero_()
            return Z.detach()
        ''',
        "one step too many (checks before stepping, stops after)": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                s[0, target_y].backward()
                with torch.no_grad():
                    Z += Z.grad / Z.grad.norm()
                    Z.grad.zero_()
                if int(s.argmax()) == target_y:
                    break
            return Z.detach()
        ''',
        "gradient not zeroed: steps follow the accumulated gradient": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                if int(s.argmax()) == target_y:
                    break
                s[0, target_y].backward()
                with torch.no_grad():
                    Z += Z.grad / Z.grad.norm()
            return Z.detach()
        ''',
        "gradient descent: the target score goes down": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                if int(s.argmax()) == target_y:
                    break
                s[0, target_y].backward()
                with torch.no_grad():
                    Z -= Z.grad / Z.grad.norm()
                    Z.grad.zero_()
            return Z.detach()
        ''',
        "never stops early: all 100 steps": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                s[0, target_y].backward()
                with torch.no_grad():
                    Z += Z.grad / Z.grad.norm()
                    Z.grad.zero_()
            return Z.detach()
        ''',
        "the caller's X changed in place (no copy)": '''
        def make_fooling_image(X, target_y, model):
            X_fooling = X.requires_grad_()
            for _ in range(100):
                s = model(X_fooling)
                if int(s.argmax()) == target_y:
                    break
                s[0, target_y].backward()
                X_fooling.data += X_fooling.grad.data / X_fooling.grad.data.norm()
                X_fooling.grad.data.zero_()
            return X_fooling.detach()
        ''',
        "sign of the gradient (FGSM) instead of the normalised gradient": '''
        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            for _ in range(100):
                s = model(Z)
                if int(s.argmax()) == target_y:
                    break
                s[0, target_y].backward()
                with torch.no_grad():
                    Z += Z.grad.sign()
                    Z.grad.zero_()
            return Z.detach()
        ''',
        "descent on the target's cross-entropy instead of ascent on its score": '''
        import torch.nn.functional as F

        def make_fooling_image(X, target_y, model):
            Z = X.detach().clone().requires_grad_(True)
            target = torch.tensor([target_y])
            for _ in range(100):
                s = model(Z)
                if int(s.argmax()) == target_y:
                    break
                F.cross_entropy(s, target).backward()
                with torch.no_grad():
                    Z -= Z.grad / Z.grad.norm()
                    Z.grad.zero_()
            return Z.detach()
        ''',
    },
    "class_visualization_update_step": {
        "gradient not zeroed: it accumulates across calls": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] - l2_reg * (img ** 2).sum()).backward()
            with torch.no_grad():
                img += learning_rate * img.grad / img.grad.norm()
        ''',
        "penalty on ||I||, not ||I||^2": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] - l2_reg * img.norm()).backward()
            with torch.no_grad():
                img += learning_rate * img.grad / img.grad.norm()
                img.grad.zero_()
        ''',
        "penalty added, not subtracted": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] + l2_reg * (img ** 2).sum()).backward()
            with torch.no_grad():
                img += learning_rate * img.grad / img.grad.norm()
                img.grad.zero_()
        ''',
        "gradient descent instead of ascent": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] - l2_reg * (img ** 2).sum()).backward()
            with torch.no_grad():
                img -= learning_rate * img.grad / img.grad.norm()
                img.grad.zero_()
        ''',
        "step not normalised": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] - l2_reg * (img ** 2).sum()).backward()
            with torch.no_grad():
                img += learning_rate * img.grad
                img.grad.zero_()
        ''',
        "not in place: the caller's img never changes": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            (model(img)[0, target_y] - l2_reg * (img ** 2).sum()).backward()
            g = img.grad
            img = (img + learning_rate * g / g.norm()).detach().requires_grad_()
        ''',
        "penalty left out": '''
        def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
            model(img)[0, target_y].backward()
            with torch.no_grad():
                img += learning_rate * img.grad / img.grad.norm()
                img.grad.zero_()
        ''',
    },
}
