"""Hidden-test cases of the style-transfer assignment (COURSE.md section 5).

Every case builds its inputs here from fixed seeds and scikit-image's bundled photographs,
with SqueezeNet 1.1's architecture under seeded random weights (``seeded_squeezenet``),
so nothing depends on downloads or on pretrained weights. Features are computed in
float64 and without gradients; the student's losses then run on them. Seeds, sizes,
weights and layers all differ from the notebook's visible checks.

Tolerances are the published ones (COURSE.md): 1e-3 for the content, Gram and style
losses, 1e-4 for total variation. In float64 a correct implementation lands near 1e-15;
the usual mistakes (a missing normalisation, a dropped border row, mean instead of sum)
are off by a few per cent or more.

The losses drive a gradient descent on the pixels, so every function is also graded on
its gradient (``_gradient``): a value computed through ``.item()``, numpy or a detached
tensor is right as a number but moves no pixel, and its gradient output is zero.

``tv_loss_vectorised`` checks "no Python loops" without timing anything:

- ``uses_python_loop``: 1 when the source of ``tv_loss`` (``ast``) or, failing that, its
  bytecode contains a ``for``/``while`` loop or a comprehension (reference: 0);
- ``graph_grows_with_image``: 1 when the autograd graph of the loss has more nodes for a
  larger image (a loop over rows or columns adds nodes per pixel; reference: 0);
- ``has_gradient``: 1 when the loss is a torch scalar with a gradient for every pixel
  (reference: 1), so an implementation through numpy does not count as vectorised.
"""
from __future__ import annotations

import ast
import dis
import inspect
import textwrap
from functools import lru_cache

import numpy as np
import torch

from autograder.cases import case
from dlcourse.vision import SQUEEZENET_MEAN, SQUEEZENET_STD

F64 = torch.float64
GRAM_TOL = 1e-3  # published tolerance of the content, Gram and style losses
TV_TOL = 1e-4    # published tolerance of the total-variation loss


# --------------------------------------------------------------------------- inputs

@lru_cache(maxsize=4)
def _squeezenet_features(seed: int) -> torch.nn.Module:
    """SqueezeNet 1.1's ``features`` with weights drawn from ``seed``: frozen, float64."""
    from dlcourse.vision import seeded_squeezenet

    return seeded_squeezenet(seed).features.to(F64).eval()


def _photo(name: str, size: tuple[int, int]) -> torch.Tensor:
    """A scikit-image photo resized to ``size`` = (H, W) and normalised: (1, 3, H, W) float64."""
    import skimage.data
    from PIL import Image

    photo = np.asarray(getattr(skimage.data, name)())
    if photo.ndim == 2:  # a grey photo: the same values in R, G and B
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    pil = Image.fromarray(np.ascontiguousarray(photo[:, :, :3], dtype=np.uint8))
    x = np.asarray(pil.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float64) / 255.0
    x = (x - SQUEEZENET_MEAN.astype(np.float64)) / SQUEEZENET_STD.astype(np.float64)  # (H, W, 3)
    return torch.tensor(np.ascontiguousarray(x.transpose(2, 0, 1))[None], dtype=F64)


def _features(x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Outputs of every module of the seeded SqueezeNet (computed here, not by the student)."""
    feats = []
    with torch.no_grad():
        for module in _squeezenet_features(seed):
            x = module(x)
            feats.append(x)
    return feats


def _gram(f: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrices, (N, C, H, W) -> (N, C, C): style targets made by the case."""
    N, C, H, W = f.shape
    return torch.einsum("nchw,ndhw->ncd", f, f) / (C * H * W)


def _randn(seed: int, *shape) -> torch.Tensor:
    return torch.tensor(np.random.RandomState(seed).randn(*shape), dtype=F64)


def _leaf(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` that autograd differentiates with respect to."""
    return x.detach().clone().requires_grad_(True)


def _gradient(value, leaf: torch.Tensor) -> torch.Tensor:
    """d sum(value) / d leaf; zeros when no gradient reaches ``leaf`` (a float, numpy, detach)."""
    if not (torch.is_tensor(value) and value.requires_grad):
        return torch.zeros_like(leaf)
    grad, = torch.autograd.grad(value.sum(), leaf, allow_unused=True, retain_graph=True)
    return torch.zeros_like(leaf) if grad is None else grad


def _value(value):
    return value.detach() if torch.is_tensor(value) else value


# --------------------------------------------------------------------------- content

@case("content_loss_random", tol=GRAM_TOL)
def content_loss_random(ns):
    """Seeded Gaussian features (1, 7, 5, 9), weights 0.83 and 2e-3, and the gradient."""
    current, original = _leaf(_randn(8201, 1, 7, 5, 9)), _randn(8202, 1, 7, 5, 9)
    loss = ns["content_loss"](0.83, current, original)
    return {
        "loss_w083": _value(loss),
        "grad_current": _gradient(loss, current),
        "loss_w2e-3": ns["content_loss"](2e-3, current.detach().clone(), 1.5 * original),
    }


@case("content_loss_squeezenet", tol=GRAM_TOL)
def content_loss_squeezenet(ns):
    """SqueezeNet features (seed 8211) of two photos at layers 3 and 6."""
    rocket = _features(_photo("rocket", (72, 104)), seed=8211)
    coffee = _features(_photo("coffee", (72, 104)), seed=8211)
    return {
        "layer3": ns["content_loss"](4e-2, rocket[3], coffee[3]),
        "layer6": ns["content_loss"](0.7, coffee[6], rocket[6]),
    }


# --------------------------------------------------------------------------- gram

@case("gram_matrix_random", tol=GRAM_TOL)
def gram_matrix_random(ns):
    """N = 3 seeded feature maps (3, 6, 4, 7), normalised and not, and a gradient.

    The gradient is that of sum(R * gram) for a seeded (3, 6, 6) matrix R, which weighs
    every entry of every Gram matrix differently.
    """
    feats = _leaf(_randn(8301, 3, 6, 4, 7))
    normalized = ns["gram_matrix"](feats.clone())
    return {
        "normalized": _value(normalized),
        "normalized_grad": _gradient(_randn(8302, 3, 6, 6) * normalized, feats),
        "normalized_explicit": ns["gram_matrix"](feats.detach().clone(), normalize=True),
        "unnormalized": ns["gram_matrix"](feats.detach().clone(), normalize=False),
    }


@case("gram_matrix_squeezenet", tol=GRAM_TOL)
def gram_matrix_squeezenet(ns):
    """Two photos in one batch (N = 2) through the seeded SqueezeNet, layers 1 and 4."""
    x = torch.cat([_photo("astronaut", (64, 64)), _photo("chelsea", (64, 64))])
    feats = _features(x, seed=8311)
    return {
        "layer1": ns["gram_matrix"](feats[1].clone()),
        "layer4_unnormalized": ns["gram_matrix"](feats[4].clone(), normalize=False),
    }


# --------------------------------------------------------------------------- style

@case("style_loss_squeezenet", tol=GRAM_TOL)
def style_loss_squeezenet(ns):
    """Current image: a photo; style targets: Gram matrices of another photo; 4 layers."""
    layers = [0, 3, 5, 9]
    weights = [1500.0, 40.0, 7.0, 0.5]
    current = _features(_photo("chelsea", (64, 96)), seed=8401)
    style = _features(_photo("immunohistochemistry", (80, 80)), seed=8401)
    targets = [_gram(style[i]) for i in layers]
    return {"loss": ns["style_loss"](current, layers, targets, weights)}


@case("style_loss_random", tol=GRAM_TOL)
def style_loss_random(ns):
    """Seeded features of three layers, weights as a tuple, targets of other features,
    and the gradient with respect to the features of each style layer."""
    shapes = [(1, 4, 9, 8), (1, 6, 5, 5), (1, 3, 7, 2), (1, 8, 3, 3)]
    feats = [_leaf(_randn(8410 + k, *s)) for k, s in enumerate(shapes)]
    others = [_randn(8420 + k, *s) for k, s in enumerate(shapes)]
    layers = (3, 0, 2)
    targets = [_gram(others[i]) for i in layers]
    weights = (2.5, 11.0, 0.25)
    loss = ns["style_loss"](feats, layers, targets, weights)
    out = {"loss": _value(loss)}
    for i in layers:
        out[f"grad_layer{i}"] = _gradient(loss, feats[i])
    return out


# --------------------------------------------------------------------------- tv

@case("tv_loss_values", tol=TV_TOL)
def tv_loss_values(ns):
    """Seeded noise, a non-square photo, and the gradient with respect to the pixels."""
    noise = _randn(8501, 1, 3, 11, 7)
    photo = _photo("coffee", (40, 56))
    img = _photo("astronaut", (17, 23)).requires_grad_(True)
    loss = ns["tv_loss"](img, 0.37)
    loss.backward()
    return {
        "noise": ns["tv_loss"](noise, 2.5e-2),
        "photo": ns["tv_loss"](photo, 1.0),
        "astronaut": loss.detach(),
        "astronaut_grad": img.grad,
    }


def _code_loops(code) -> bool:
    """Does a code object (or one nested in it, e.g. a comprehension) loop?"""
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    for ins in dis.get_instructions(code):
        if ins.opname == "FOR_ITER":
            return True
        if ins.opcode in jumps and isinstance(ins.argval, int) and ins.argval <= ins.offset:
            return True  # a jump backwards: the end of a loop body
    return any(_code_loops(c) for c in code.co_consts if inspect.iscode(c))


def _defines(tree: ast.Module, name) -> bool:
    """Is ``tree`` exactly one definition of a function called ``name``?"""
    if len(tree.body) != 1:
        return False
    node = tree.body[0]
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name


def _uses_python_loop(fn) -> int:
    """1 if ``fn`` contains a for/while loop or a comprehension, else 0.

    Reads the source when Python can find it (IPython keeps cell sources), otherwise
    the bytecode (loop back-edges, FOR_ITER, also in nested comprehension code). A callable without either cannot be checked and counts as looping.
    """
    loop_nodes = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp,
                  ast.DictComp, ast.GeneratorExp)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        tree = None
    if tree is not None and not _defines(tree, getattr(fn, "__name__", None)):
        tree = None  # the lines Python found are not this function's source
    if tree is not None:
        return int(any(isinstance(node, loop_nodes) for node in ast.walk(tree)))
    code = getattr(fn, "__code__", None)
    if code is None:
        return 1
    return int(_code_loops(code))


def _graph_size(out) -> int:
    """Number of distinct autograd nodes behind ``out`` (0 for a non-tensor or a constant)."""
    root = getattr(out, "grad_fn", None)
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(nxt for nxt, _ in node.next_functions)
    return len(seen)


@case("tv_loss_vectorised")
def tv_loss_vectorised(ns):
    """No Python loops: source/bytecode inspection and graph size at two image sizes."""
    tv_loss = ns["tv_loss"]
    small = _randn(8511, 1, 3, 6, 5).requires_grad_(True)
    large = _randn(8512, 1, 3, 30, 25).requires_grad_(True)
    loss_small, loss_large = tv_loss(small, 0.5), tv_loss(large, 0.5)
    has_gradient = 0
    if torch.is_tensor(loss_large) and loss_large.numel() == 1 and loss_large.requires_grad:
        loss_large.backward()
        has_gradient = int(large.grad is not None and large.grad.shape == large.shape)
    return {
        "uses_python_loop": _uses_python_loop(tv_loss),
        "graph_grows_with_image": int(_graph_size(loss_large) > _graph_size(loss_small)),
        "has_gradient": has_gradient,
    }
