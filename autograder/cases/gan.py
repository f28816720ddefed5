"""Hidden cases of the GAN assignment (source/gan/generative_adversarial_networks.ipynb).

Everything runs on the CPU in a few milliseconds: no case trains (get_optimizer takes one
Adam step). Inputs come from seeds in the 9100-9199 range, which no visible check uses.

Networks are compared by behaviour, not by the random numbers torch's default
initialisation happened to draw: each case counts parameters, records their shapes in
order, then overwrites every parameter with values drawn from its own seed
(:func:`_reinit`) and runs the network on fixed inputs. So any network with the layers of
COURSE.md, in that order, matches the reference whatever initialisation it used.

Losses are fed float64 logits so that rel_error 1e-7 (COURSE.md) measures the formula, not
float32 rounding; networks run in float64 after the re-initialisation for the same reason
(outputs near zero would otherwise make rel_error sensitive to the order of float32 sums).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.cases import case


def _randn(seed: int, *shape, scale: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def _reinit(model: nn.Module, seed: int) -> None:
    """Overwrite every parameter of ``model`` (in module order) with seeded values.

    Weights of dimension >= 2 are uniform in (-a, a) with a = sqrt(3 / fan_in) (unit
    variance outputs for unit-variance inputs); batch-norm scales are 1 + 0.1 u, all other
    vectors (biases, batch-norm shifts) 0.1 u, with u uniform in (-1, 1).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm)
            for name, p in module.named_parameters(recurse=False):
                u = torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1
                if p.dim() >= 2:
                    value = u * np.sqrt(3.0 / p[0].numel())  # p[0].numel(): fan-in of Linear/Conv2d
                elif is_norm and name == "weight":
                    value = 1 + 0.1 * u
                else:
                    value = 0.1 * u
                p.copy_(value.to(p.dtype))


def _param_shapes(model: nn.Module) -> np.ndarray:
    """Shapes of the parameters in order, as one int array (each shape padded to 4 dims)."""
    rows = []
    for p in model.parameters():
        shape = list(p.shape)
        rows.append(shape + [0] * (4 - len(shape)))
    return np.asarray(rows, dtype=np.int64)


def _count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _same_params(a: nn.Module, b: nn.Module) -> int:
    pa, pb = list(a.parameters()), list(b.parameters())
    return int(len(pa) == len(pb) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(pa, pb)))


# ----------------------------------------------------------------------------- noise

@case("sample_noise", tol=1e-6)
def sample_noise(ns):
    f = ns["sample_noise"]
    values = f(37, 11, seed=9101)
    again = f(37, 11, seed=9101)
    torch.manual_seed(9102)
    many = f(4000, 5)  # unseeded call: only its distribution is checked
    many = torch.as_tensor(many).double()
    return {
        "values": values,
        "shape": list(values.shape),
        "repeatable": int(torch.equal(torch.as_tensor(values), torch.as_tensor(again))),
        "in_range": int(bool((many > -1).all() and (many < 1).all())),
        "looks_uniform": int(abs(float(many.mean())) < 0.03 and abs(float(many.var()) - 1 / 3) < 0.03),
    }


# ----------------------------------------------------------------------------- MLP GAN

@case("discriminator", tol=1e-5)
def discriminator(ns):
    D = ns["discriminator"]()
    D_seeded_a, D_seeded_b = ns["discriminator"](seed=9111), ns["discriminator"](seed=9111)
    _reinit(D, 9112)
    D.double().eval()
    x = _randn(9113, 6, 1, 28, 28)
    with torch.no_grad():
        scores = D(x).reshape(6, -1)
    return {
        "num_params": _count(D),
        "param_shapes": _param_shapes(D),
        "scores": scores,
        "seeded_builds_match": _same_params(D_seeded_a, D_seeded_b),
    }


@case("generator", tol=1e-5)
def generator(ns):
    G = ns["generator"](noise_dim=5)
    G_default = ns["generator"]()
    G_seeded_a, G_seeded_b = ns["generator"](5, seed=9121), ns["generator"](5, seed=9121)
    _reinit(G, 9122)
    G.double().eval()
    z = torch.rand(7, 5, generator=torch.Generator().manual_seed(9123), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        images = G(z)
    return {
        "num_params": _count(G),
        "num_params_default_noise": _count(G_default),
        "param_shapes": _param_shapes(G),
        "images": images,
        "seeded_builds_match": _same_params(G_seeded_a, G_seeded_b),
    }


# ----------------------------------------------------------------------------- losses

@case("discriminator_loss", tol=1e-7)
def discriminator_loss(ns):
    f = ns["discriminator_loss"]
    logits_real = _randn(9131, 13, scale=3.0)
    logits_fake = _randn(9132, 13, scale=3.0)
    extreme = torch.tensor([40.0, -35.0, 0.5, 12.0], dtype=torch.float64)
    return {
        "loss": f(logits_real, logits_fake),
        "loss_swapped": f(logits_fake, logits_real),
        "loss_extreme": f(extreme, -extreme.flip(0)),
    }


@case("generator_loss", tol=1e-7)
def generator_loss(ns):
    f = ns["generator_loss"]
    logits_fake = _randn(9141, 17, scale=2.5)
    return {"loss": f(logits_fake), "loss_shifted": f(logits_fake - 4.0)}


@case("ls_discriminator_loss", tol=1e-7)
def ls_discriminator_loss(ns):
    f = ns["ls_discriminator_loss"]
    scores_real = _randn(9151, 11, scale=1.5)
    scores_fake = _randn(9152, 11, scale=1.5) + 0.3
    return {"loss": f(scores_real, scores_fake), "loss_swapped": f(scores_fake, scores_real)}


@case("ls_generator_loss", tol=1e-7)
def ls_generator_loss(ns):
    f = ns["ls_generator_loss"]
    scores_fake = _randn(9161, 19, scale=2.0)
    return {"loss": f(scores_fake), "loss_shifted": f(scores_fake + 1.0)}


# ----------------------------------------------------------------------------- optimiser

@case("get_optimizer", tol=1e-5)
def get_optimizer(ns):
    torch.manual_seed(9171)
    model = nn.Linear(4, 3)
    _reinit(model, 9172)
    opt = ns["get_optimizer"](model)
    group = opt.param_groups[0]
    x = _randn(9173, 8, 4, dtype=torch.float32)
    y = _randn(9174, 8, 3, dtype=torch.float32)
    opt.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    opt.step()
    return {
        "is_adam": int(type(opt) is torch.optim.Adam),
        "num_groups": len(opt.param_groups),
        "params_in_group": len(group["params"]),
        "lr": float(group["lr"]),
        "betas": [float(b) for b in group["betas"]],
        "weight_decay": float(group.get("weight_decay", 0.0)),
        "weight_after_step": model.weight,
        "bias_after_step": model.bias,
    }


# ----------------------------------------------------------------------------- DCGAN

@case("build_dc_classifier", tol=1e-5)
def build_dc_classifier(ns):
    D = ns["build_dc_classifier"](6)
    _reinit(D, 9181)
    D.double().eval()
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(9182), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        scores = D(x).reshape(6, -1)
    return {"num_params": _count(D), "param_shapes": _param_shapes(D), "scores": scores}


@case("build_dc_generator", tol=1e-5)
def build_dc_generator(ns):
    G = ns["build_dc_generator"](noise_dim=6)
    G_default = ns["build_dc_generator"]()
    _reinit(G, 9191)
    G.double().train()  # batch norm normalises with the statistics of this batch
    z = torch.rand(5, 6, generator=torch.Generator().manual_seed(9192), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        images = G(z)
    return {
        "num_params": _count(G),
        "num_params_default_noise": _count(G_default),
        "param_shapes": _param_shapes(G),
        "images": images.reshape(5, -1),
        "image_shape": list(images.shape),
    }
