"""Hidden-test cases of the network-visualization assignment (COURSE.md section 4).

Every case builds its model and images here, from fixed seeds and scikit-image's bundled
photographs: nothing depends on downloads or on whether pretrained SqueezeNet weights
exist on the grading machine. Models are frozen, in eval mode (no dropout acts) and in
float64, so answers are tight and cheap:

- ``_case_cnn(seed)``: a small CNN (conv, ReLU, max-pool, conv, ReLU, average pool,
  linear) with 10 classes; its linear head keeps every class score differentiable.
- ``seeded_squeezenet(seed)`` from ``dlcourse.vision``: SqueezeNet 1.1's architecture
  with random weights, at a reduced input size.

The seeds and targets differ from the notebook's visible checks. The fooling case's
target was chosen so the reference needs 8 steps and the target's margin at the step
where it wins (and the margin it lacks one step earlier) is about 1e-2, far above
float64 rounding: a correct implementation stops at the same step.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.cases import case

F64 = torch.float64
PIXEL_MEAN, PIXEL_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # ImageNet


def _frozen_f64(model: nn.Module) -> nn.Module:
    model = model.to(F64).eval()
    for weight in model.parameters():
        weight.requires_grad_(False)  # only the images need gradients
    return model


def _case_cnn(seed: int, num_classes: int = 10) -> nn.Module:
    """A small frozen float64 CNN: (N, 3, H, W) -> scores (N, num_classes)."""
    with torch.random.fork_rng(devices=[]):  # the case's seed, the global stream untouched
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 12, 5, stride=2, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(12, 24, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(96, num_classes),
        )
    return _frozen_f64(model)


def _photo(name: str, size: int) -> torch.Tensor:
    """A scikit-image photo, centre-cropped, resized to (size, size), normalised: (1, 3, size, size)."""
    import skimage.data
    from PIL import Image

    a = getattr(skimage.data, name)()
    a = a[0] if isinstance(a, tuple) else a
    if a.ndim == 2:  # grey photo: the same value in all three channels
        a = np.repeat(a[..., None], 3, axis=-1)
    h, w = a.shape[:2]
    s = min(h, w)
    a = np.ascontiguousarray(a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s, :3])
    x = np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR), dtype=np.float64) / 255.0
    x = (x - PIXEL_MEAN) / PIXEL_STD  # (size, size, 3)
    return torch.tensor(np.ascontiguousarray(x.transpose(2, 0, 1))[None], dtype=F64)


@case("saliency_small_cnn", tol=1e-7)
def saliency_small_cnn(ns):
    """Three images (two photos and seeded noise) of 40x40 on the small CNN."""
    model = _case_cnn(9101)
    noise = torch.tensor(np.random.RandomState(9111).randn(1, 3, 40, 40), dtype=F64)
    X = torch.cat([_photo("astronaut", 40), _photo("coffee", 40), noise]).contiguous()
    y = torch.tensor([3, 7, 0], dtype=torch.long)
    saliency = ns["compute_saliency_maps"](X, y, model)
    return {"saliency": saliency}


@case("saliency_squeezenet", tol=1e-6)
def saliency_squeezenet(ns):
    """Two 96x96 photos on a seeded SqueezeNet 1.1 (float64), labels = its own predictions."""
    from dlcourse.vision import seeded_squeezenet

    model = _frozen_f64(seeded_squeezenet(seed=9121))
    X = torch.cat([_photo("chelsea", 96), _photo("rocket", 96)]).contiguous()
    with torch.no_grad():
        y = model(X).argmax(dim=1)  # classes whose score is positive (alive after the ReLU)
    saliency = ns["compute_saliency_maps"](X, y, model)
    return {"saliency": saliency, "labels": y}


@case("fooling_image", tol=1e-8)
def fooling_image(ns):
    """Fool the small CNN into class 4 (the reference stops after 8 steps).

    ``input_unchanged``: the caller's X keeps its pixels (the notebook then shows
    X_fooling - X; an ascent that moves X itself makes that difference zero).
    """
    model = _case_cnn(9102)
    X = _photo("astronaut", 40).contiguous()
    X_before = X.clone()
    X_fooling = ns["make_fooling_image"](X, 4, model)
    X_fooling = torch.as_tensor(X_fooling).detach().to(F64)
    with torch.no_grad():
        predicted = model(X_fooling).argmax(dim=1)
    return {"X_fooling": X_fooling, "predicted": predicted,
            "input_unchanged": int(torch.equal(X.detach(), X_before))}


def _update_inputs():
    model = _case_cnn(9103)
    img = torch.tensor(np.random.RandomState(9131).randn(1, 3, 32, 32), dtype=F64).requires_grad_()
    return model, img


@case("update_step", tol=1e-8)
def update_step(ns):
    """One step on seeded noise (target 2, l2_reg 0.05, learning rate 3): img after the step."""
    model, img = _update_inputs()
    ns["class_visualization_update_step"](img, model, 2, 0.05, 3.0)
    return {"img": img.detach()}


@case("update_step_twice", tol=1e-8)
def update_step_twice(ns):
    """Two steps in a row on the same img: the second must not reuse the first's gradient."""
    model, img = _update_inputs()
    ns["class_visualization_update_step"](img, model, 8, 1e-3, 2.0)
    ns["class_visualization_update_step"](img, model, 8, 1e-3, 2.0)
    return {"img": img.detach()}
