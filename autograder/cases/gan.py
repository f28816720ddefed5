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
The two cross-entropy losses also get float32 logits of the size a confident discriminator
produces during training (|s| up to 120, where sigmoid underflows and exp overflows in
float32), with tolerance 1e-5 (a few float32 roundings of a mean of positive terms): a
formula that is exact in float64 but gives infinity or a clamped value in float32, such as
log(sigmoid(s)) or log(1 + exp(-s)), would stop training with NaN, so it fails here.
Every loss is graded on its gradient with respect to the logits too (``_loss_and_grads``):
the networks learn only through it, so a loss whose value is right but whose gradient is
cut (``.detach()``, ``.item()``) or wrong fails. The gradients are of order 1/N and
computed as differences of numbers of order 1, so they get an absolute tolerance of
1e-12 (about 1e4 float64 roundings) besides the relative one.

Networks run in training mode, as ``run_a_gan`` uses them: a layer the specification does
not list that acts only while training (dropout) changes the outputs there.
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


def _loss_and_grads(f, *logits: torch.Tensor) -> tuple:
    """f(*logits) detached, and its gradient with respect to each input (zeros if none flows)."""
    leaves = [x.detach().clone().requires_grad_(True) for x in logits]
    loss = f(*leaves)
    if torch.is_tensor(loss) and loss.requires_grad:
        grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True)
    else:
        grads = [None] * len(leaves)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]
    return (loss.detach() if torch.is_tensor(loss) else loss), grads


GRAD_ATOL = 1e-12  # gradients of order 1/N, differences of numbers of order 1 (see above)


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
    D.double().train()  # as in run_a_gan; the layers of COURSE.md act the same in both modes
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
    G.double().train()  # as in run_a_gan
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

FLOAT32_TOL = 1e-5  # a mean of a few positive float32 terms, each rounded a few times


@case("discriminator_loss", tol=1e-7, tols={"loss_float32_confident": FLOAT32_TOL},
      atols={"grad_real": GRAD_ATOL, "grad_fake": GRAD_ATOL})
def discriminator_loss(ns):
    f = ns["discriminator_loss"]
    logits_real = _randn(9131, 13, scale=3.0)
    logits_fake = _randn(9132, 13, scale=3.0)
    loss, (grad_real, grad_fake) = _loss_and_grads(f, logits_real, logits_fake)
    extreme = torch.tensor([40.0, -35.0, 0.5, 12.0], dtype=torch.float64)
    # float32, as in training: D confidently wrong on a real image (-120) and on a fake (95)
    real32 = torch.tensor([-120.0, 2.5, 40.0, -3.0], dtype=torch.float32)
    fake32 = torch.tensor([95.0, -1.5, -100.0, 18.0], dtype=torch.float32)
    return {
        "loss": loss,
        "grad_real": grad_real,
        "grad_fake": grad_fake,
        "loss_swapped": f(logits_fake, logits_real),
        "loss_extreme": f(extreme, -extreme.flip(0)),
        "loss_float32_confident": f(real32, fake32),
    }


@case("generator_loss", tol=1e-7, tols={"loss_float32_rejected": FLOAT32_TOL},
      atols={"grad_fake": GRAD_ATOL})
def generator_loss(ns):
    f = ns["generator_loss"]
    logits_fake = _randn(9141, 17, scale=2.5)
    loss, (grad_fake,) = _loss_and_grads(f, logits_fake)
    # float32, as in training: early on D rejects the fakes with large negative logits
    rejected32 = torch.tensor([-120.0, -30.0, 2.0, -0.5], dtype=torch.float32)
    return {"loss": loss, "grad_fake": grad_fake, "loss_shifted": f(logits_fake - 4.0),
            "loss_float32_rejected": f(rejected32)}


@case("ls_discriminator_loss", tol=1e-7, atols={"grad_real": GRAD_ATOL, "grad_fake": GRAD_ATOL})
def ls_discriminator_loss(ns):
    f = ns["ls_discriminator_loss"]
    scores_real = _randn(9151, 11, scale=1.5)
    scores_fake = _randn(9152, 11, scale=1.5) + 0.3
    loss, (grad_real, grad_fake) = _loss_and_grads(f, scores_real, scores_fake)
    return {"loss": loss, "grad_real": grad_real, "grad_fake": grad_fake,
            "loss_swapped": f(scores_fake, scores_real)}


@case("ls_generator_loss", tol=1e-7, atols={"grad_fake": GRAD_ATOL})
def ls_generator_loss(ns):
    f = ns["ls_generator_loss"]
    scores_fake = _randn(9161, 19, scale=2.0)
    loss, (grad_fake,) = _loss_and_grads(f, scores_fake)
    return {"loss": loss, "grad_fake": grad_fake, "loss_shifted": f(scores_fake + 1.0)}


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
        "betas": [float(b) for b in group.get("betas", (0.0, 0.0))],  # SGD has none: wrong, not a crash
        "weight_decay": float(group.get("weight_decay", 0.0)),
        "weight_after_step": model.weight,
        "bias_after_step": model.bias,
    }


# ----------------------------------------------------------------------------- DCGAN

@case("build_dc_classifier", tol=1e-5)
def build_dc_classifier(ns):
    D = ns["build_dc_classifier"](6)
    _reinit(D, 9181)
    D.double().train()  # as in run_a_gan
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
