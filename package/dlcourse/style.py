"""Provided code of the style-transfer assignment.

Public names (what the notebook imports)::

    extract_features(x, cnn)                   -> list of every module's output
    features_from_img(path_or_image, size, cnn) -> (features, image tensor)
    load_image(path_or_image)                   -> PIL RGB image
    load_style_images(verbose=True)             -> {role: path or PIL image}
    STYLE_IMAGE_FILES, OFFLINE_STAND_INS        which image plays which role
    LossFunctions                               the four losses the loop needs
    run_style_transfer(content_image, style_image, image_size, style_size,
                       content_layer, content_weight, style_layers, style_weights,
                       tv_weight, init_random=False, *, cnn, losses, ...)

Letters: N batch, C channels, H height, W width.

The graded losses (``content_loss``, ``gram_matrix``, ``style_loss``, ``tv_loss``) are
written by the student in the notebook, so ``run_style_transfer`` takes them as an
argument (``losses``); the notebook's read-only ``style_transfer`` wraps it with the
signatures of the assignment. Nothing here computes a loss.

Images. The four course images (a content photo and three paintings) are fetched by
``python -m dlcourse.download style_images`` into ``data_root()/styles``. Offline, real
photographs bundled with scikit-image play their roles, and ``load_style_images`` says so.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from dlcourse.vision import deprocess, preprocess

# role -> file in data_root()/styles (what `python -m dlcourse.download style_images` writes)
STYLE_IMAGE_FILES = {
    "content": "tubingen.jpg",        # a photograph of Tuebingen's riverside
    "style_a": "composition_vii.jpg",  # Kandinsky, Composition VII
    "style_b": "the_scream.jpg",       # Munch, The Scream
    "style_c": "starry_night.jpg",     # van Gogh, The Starry Night
}

# role -> (scikit-image photo, why it stands in) when the downloaded images are missing
OFFLINE_STAND_INS = {
    "content": ("chelsea", "a cat's face: clear layout and edges for the content"),
    "style_a": ("immunohistochemistry", "stained tissue: a colourful, busy texture"),
    "style_b": ("rocket", "a launch pad under a blue sky: blues, sand and hard edges"),
    "style_c": ("retina", "a retina: warm colours and thin branching vessels"),
}


# --------------------------------------------------------------------------- features

def extract_features(x: torch.Tensor, cnn: torch.nn.Module) -> list[torch.Tensor]:
    """Run ``x`` through ``cnn`` module by module and keep every output.

    Inputs:
    - x: tensor of shape (N, 3, H, W), a minibatch of preprocessed images
    - cnn: a sequential network (SqueezeNet's ``features``); its modules are applied
      in order

    Returns a list ``feats`` with one tensor per module: ``feats[i]`` of shape
    (N, C_i, H_i, W_i) is the output of module ``i`` (so layer indices in the notebook
    are indices into ``cnn``).
    """
    feats = []
    for module in cnn:  # nn.Sequential iterates over its modules in order
        x = module(x)
        feats.append(x)
    return feats


def load_image(path_or_image):
    """A PIL RGB image from a file path, a PIL image or a uint8 array (H, W[, 3 or 4])."""
    from PIL import Image

    if isinstance(path_or_image, (str, os.PathLike)):
        with Image.open(path_or_image) as img:
            return img.convert("RGB")
    if isinstance(path_or_image, Image.Image):
        return path_or_image.convert("RGB")
    arr = np.asarray(path_or_image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    return Image.fromarray(arr.astype(np.uint8)).convert("RGB")


def features_from_img(path_or_image, size, cnn: torch.nn.Module):
    """Load an image, preprocess it and extract its features.

    Inputs:
    - path_or_image: a file path, a PIL image or a uint8 array (H, W, 3)
    - size: length of the image's shorter side after resizing (see ``preprocess``)
    - cnn: the feature network; the image is moved to the device and dtype of its
      parameters

    Returns a tuple:
    - feats: list of tensors (1, C_i, H_i, W_i), as ``extract_features``
    - img: the preprocessed image, tensor (1, 3, H, W)
    """
    img = preprocess(load_image(path_or_image), size=size)
    img = img.to(**_placement(cnn))
    return extract_features(img, cnn), img


def _placement(cnn: torch.nn.Module) -> dict:
    """``{"device": ..., "dtype": ...}`` of the network's first parameter."""
    p = next(cnn.parameters(), None)
    if p is None:
        return {"device": torch.device("cpu"), "dtype": torch.float32}
    return {"device": p.device, "dtype": p.dtype}


# --------------------------------------------------------------------------- images

def _styles_dir() -> Path:
    from dlcourse.data.paths import data_root

    return data_root() / "styles"


def _skimage_photo(name: str):
    import skimage.data
    from PIL import Image

    arr = np.asarray(getattr(skimage.data, name)())
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]).astype(np.uint8))


def load_style_images(verbose: bool = True) -> dict:
    """The content image and the three style images of the assignment.

    Returns a dict ``{role: image}`` with the roles of ``STYLE_IMAGE_FILES``
    (``"content"``, ``"style_a"``, ``"style_b"``, ``"style_c"``). Each value is the
    path of the downloaded image in ``data_root()/styles`` when all four files are
    there; otherwise a PIL image of a scikit-image photograph (``OFFLINE_STAND_INS``),
    and a message says which photo plays which role. Either kind can be passed to
    ``features_from_img`` and ``run_style_transfer``.
    """
    folder = _styles_dir()
    paths = {role: folder / name for role, name in STYLE_IMAGE_FILES.items()}
    if all(p.is_file() for p in paths.values()):
        if verbose:
            print(f"Using the course's style images from {folder}.")
        return dict(paths)
    if verbose:
        missing = sorted(p.name for p in paths.values() if not p.is_file())
        print(f"Style images not found in {folder} (missing: {', '.join(missing)}); "
              "`python -m dlcourse.download style_images` fetches them.\n"
              "Using real photographs bundled with scikit-image instead:")
        for role, (name, why) in OFFLINE_STAND_INS.items():
            print(f"  {role:8s} <- skimage.data.{name}() ({why})")
    return {role: _skimage_photo(name) for role, (name, _) in OFFLINE_STAND_INS.items()}


# --------------------------------------------------------------------------- the loop

class LossFunctions(NamedTuple):
    """The four losses of the notebook, with the signatures of the assignment."""

    content_loss: Callable  # (content_weight, content_current, content_original) -> scalar
    gram_matrix: Callable   # (features (N, C, H, W), normalize=True) -> (N, C, C)
    style_loss: Callable    # (feats, style_layers, style_targets, style_weights) -> scalar
    tv_loss: Callable       # (img (1, 3, H, W), tv_weight) -> scalar


# The assignment's schedule for 200 iterations, as fractions so shortened runs keep its shape.
LEARNING_RATE = 3.0       # Adam on raw pixels: large steps while the picture forms
FINAL_LEARNING_RATE = 0.1  # fine polishing for the last 10 % (iteration 180 of 200)
DECAY_FRACTION = 0.9
CLAMP_FRACTION = 0.95      # pixels clamped to [-1.5, 1.5] before iteration 190 of 200
CLAMP = 1.5


def _number(x) -> float:
    """A loss value as a float (no autograd warning)."""
    return float(torch.as_tensor(x).detach().cpu())


def _summary(when, loss, c_loss, s_loss, t_loss) -> str:
    return (f"{when}: loss {_number(loss):.4g} (content {_number(c_loss):.4g}, "
            f"style {_number(s_loss):.4g}, tv {_number(t_loss):.4g})")


def _show_row(images, titles, size=4.0):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size))
    for ax, img, title in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(img)
        ax.set_title(title)
        ax.axis("off")
    plt.show()


def run_style_transfer(content_image, style_image, image_size, style_size, content_layer,
                       content_weight, style_layers, style_weights, tv_weight,
                       init_random=False, *, cnn, losses: LossFunctions,
                       num_iterations=200, show_every=None, show=True, seed=0,
                       verbose=True):
    """Synthesise an image with the content of one image and the style of another.

    Inputs:
    - content_image, style_image: paths, PIL images or uint8 arrays (H, W, 3)
    - image_size: shorter side of the content image (and of the result)
    - style_size: shorter side of the style image
    - content_layer: index into ``extract_features`` of the content representation
    - content_weight: weight of the content loss
    - style_layers: list of L layer indices for the style loss
    - style_weights: list of L weights, one per style layer
    - tv_weight: weight of the total-variation loss
    - init_random: start from uniform noise in [0, 1) instead of the content image

    Keyword-only:
    - cnn: the feature network (frozen); images go to its device and dtype
    - losses: a ``LossFunctions`` (or anything with those four attributes)
    - num_iterations: Adam steps (the assignment: 200); the learning rate drops from 3.0 to
      0.1 after 90 % of them and pixels are clamped to [-1.5, 1.5] during the first 95 %
    - show_every: also show the image every this many iterations (None: only at the end)
    - show: show the content and style images and the result with matplotlib
    - seed: seed of the random initial image (``init_random``)

    Returns the synthesised image, a tensor (1, 3, H, W) on the CPU (``deprocess``
    turns it into a picture).
    """
    if num_iterations < 1:
        raise ValueError("num_iterations must be at least 1")
    placement = _placement(cnn)
    content_img = preprocess(load_image(content_image), size=image_size).to(**placement)
    style_img = preprocess(load_image(style_image), size=style_size).to(**placement)

    with torch.no_grad():  # targets are constants of the optimisation
        content_target = extract_features(content_img, cnn)[content_layer].clone()
        style_feats = extract_features(style_img, cnn)
        style_targets = [losses.gram_matrix(style_feats[i].clone()) for i in style_layers]

    if init_random:
        generator = torch.Generator().manual_seed(seed)
        start = torch.rand(content_img.shape, generator=generator, dtype=torch.float64)
        img = start.to(**placement)
    else:
        img = content_img.clone()
    img.requires_grad_(True)

    decay_at = int(DECAY_FRACTION * num_iterations)  # 180 of 200
    clamp_until = int(CLAMP_FRACTION * num_iterations)  # 190 of 200
    optimizer = torch.optim.Adam([img], lr=LEARNING_RATE)

    if show:
        _show_row([deprocess(content_img.cpu()), deprocess(style_img.cpu())],
                  ["Content source", "Style source"])

    for t in range(num_iterations):
        if t < clamp_until:
            with torch.no_grad():
                img.clamp_(-CLAMP, CLAMP)
        optimizer.zero_grad()
        feats = extract_features(img, cnn)
        c_loss = losses.content_loss(content_weight, feats[content_layer], content_target)
        s_loss = losses.style_loss(feats, style_layers, style_targets, style_weights)
        t_loss = losses.tv_loss(img, tv_weight)
        loss = c_loss + s_loss + t_loss
        loss.backward()
        if t == decay_at:
            optimizer = torch.optim.Adam([img], lr=FINAL_LEARNING_RATE)
        optimizer.step()
        if show and show_every and t % show_every == 0 and t != num_iterations - 1:
            if verbose:
                print(_summary(f"iteration {t}", loss, c_loss, s_loss, t_loss))
            _show_row([deprocess(img.detach().cpu())], [f"Iteration {t}"])

    result = img.detach().cpu()
    if verbose:
        print(_summary(f"after {num_iterations} iterations", loss, c_loss, s_loss, t_loss))
    if show:
        _show_row([deprocess(result)], [f"Result after {num_iterations} iterations"])
    return result
