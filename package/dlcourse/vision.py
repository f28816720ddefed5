"""Image helpers shared by the network-visualization and style-transfer assignments.

Public names (what the notebooks import)::

    SQUEEZENET_MEAN, SQUEEZENET_STD         ImageNet mean / std, numpy float32 arrays (3,)
    preprocess(img, size=224)               photo -> normalised tensor (1, 3, H, W)
    deprocess(img, should_rescale=True)     tensor (1, 3, H, W) -> PIL image
    rescale(x)                              min-max rescale to [0, 1]
    blur_image(X, sigma=1)                  Gaussian blur along H and W, in place
    jitter(X, ox, oy)                       circular shift (torch.roll) by ox columns, oy rows
    load_squeezenet(pretrained=True, seed=0, verbose=True) -> (model, is_pretrained)
    seeded_squeezenet(seed=0)               SqueezeNet 1.1 with seeded random weights, frozen
    imagenet_class_names()                  list of the 1000 ImageNet class names
    load_imagenet_val(num=None)             -> X (num, 224, 224, 3) uint8, y (num,), class_names
    offline_imagenet_sample()               the offline stand-in images and labels
    OFFLINE_PHOTOS                          its photos: (skimage.data name, ImageNet label)
    OFFLINE_ENV                             "DLCOURSE_OFFLINE": set to 1 to never try the network

Letters: N batch, C channels (3 for RGB), H height, W width.

Offline behaviour. SqueezeNet 1.1's ImageNet weights come through torchvision (its
cache, or a download when the network answers quickly). When they cannot be had,
``load_squeezenet`` returns the same architecture with seeded random weights and says
so: every cell still runs, but the pictures mean little. The 25-image ImageNet sample
(``python -m dlcourse.download imagenet_val_25``) is replaced offline by real photographs
bundled with scikit-image, each with a plausible ImageNet label.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dlcourse.network import NETWORK_TIMEOUT, OFFLINE_ENV, host_answers, offline_forced

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

WEIGHTS_HOST = "download.pytorch.org"  # where torchvision fetches the SqueezeNet weights


# --------------------------------------------------------------------------- images

def preprocess(img, size=224) -> torch.Tensor:
    """Turn a photo into the normalised input SqueezeNet expects.

    Inputs:
    - img: a PIL image, or a uint8 numpy array of shape (H, W, 3) (or (H, W) grey).
    - size: int, the length the shorter side is resized to (aspect ratio kept, as
      torchvision's ``Resize(int)``; a square photo gives (size, size)); or a pair
      (H, W) for an exact size.

    Returns a float32 tensor of shape (1, 3, H', W'): pixels in [0, 1], minus
    SQUEEZENET_MEAN, divided by SQUEEZENET_STD, per channel.
    """
    from PIL import Image

    if not isinstance(img, Image.Image):
        img = Image.fromarray(np.asarray(img).astype(np.uint8))
    img = img.convert("RGB")
    w, h = img.size
    if isinstance(size, int):
        if h <= w:
            new_h, new_w = size, max(1, round(w * size / h))
        else:
            new_h, new_w = max(1, round(h * size / w)), size
    else:
        new_h, new_w = size
    if (new_h, new_w) != (h, w):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) / 255.0  # (H, W, 3)
    x = (x - SQUEEZENET_MEAN) / SQUEEZENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # (1, 3, H, W)


def rescale(x):
    """Min-max rescale a tensor or array to [0, 1] (a constant input gives zeros)."""
    low, high = x.min(), x.max()
    span = high - low
    if float(span) == 0.0:
        return x - low
    return (x - low) / span


def deprocess(img, should_rescale=True):
    """Undo ``preprocess``: a tensor of shape (1, 3, H, W) or (3, H, W) -> PIL image.

    With ``should_rescale`` the un-normalised pixels are min-max rescaled to [0, 1]
    (useful for synthesised images whose range is arbitrary); otherwise they are clipped
    to [0, 1].
    """
    from PIL import Image

    x = torch.as_tensor(img).detach().cpu().double()
    if x.dim() == 4:
        x = x[0]
    std = torch.as_tensor(SQUEEZENET_STD, dtype=x.dtype).view(3, 1, 1)
    mean = torch.as_tensor(SQUEEZENET_MEAN, dtype=x.dtype).view(3, 1, 1)
    x = x * std + mean  # (3, H, W), pixels in [0, 1] for a real photo
    x = rescale(x) if should_rescale else x.clamp(0.0, 1.0)
    arr = (x.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _gaussian_kernel(sigma: float, dtype, device) -> torch.Tensor:
    radius = int(4.0 * sigma + 0.5)  # as scipy.ndimage.gaussian_filter1d (truncate=4)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def _blur_last_dim(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve along the last dim; borders mirrored as scipy's mode 'reflect' (d c b a | a b c d)."""
    r = (kernel.numel() - 1) // 2
    n = x.shape[-1]
    idx = torch.arange(-r, n + r, device=x.device) % (2 * n)
    idx = torch.where(idx < n, idx, 2 * n - 1 - idx)  # positions of the padded signal
    padded = x.index_select(-1, idx)  # (..., n + 2r)
    lead = x.shape[:-1]
    out = torch.nn.functional.conv1d(padded.reshape(-1, 1, n + 2 * r), kernel.view(1, 1, -1))
    return out.reshape(*lead, n)


def blur_image(X: torch.Tensor, sigma=1) -> torch.Tensor:
    """Blur images with a Gaussian of standard deviation ``sigma`` pixels along H and W.

    Inputs:
    - X: tensor of shape (N, C, H, W). It is modified **in place** (no gradient is
      recorded, so a leaf that requires grad is fine) and also returned.
    - sigma: standard deviation in pixels; the kernel is cut at 4 sigma and the borders
      are mirrored, as scipy.ndimage.gaussian_filter1d does.
    """
    if sigma <= 0:
        return X
    with torch.no_grad():
        k = _gaussian_kernel(float(sigma), X.dtype, X.device)
        out = _blur_last_dim(X, k)  # along W
        out = _blur_last_dim(out.transpose(-1, -2), k).transpose(-1, -2)  # along H
        X.copy_(out)
    return X


def jitter(X: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """Shift images circularly by ``ox`` columns (W) and ``oy`` rows (H).

    X: (N, C, H, W); returns a new tensor of the same shape. ``jitter(X, -ox, -oy)``
    undoes ``jitter(X, ox, oy)``.
    """
    return torch.roll(X, shifts=(int(oy), int(ox)), dims=(-2, -1))


# --------------------------------------------------------------------------- model

def _weights():
    from torchvision.models import SqueezeNet1_1_Weights

    return SqueezeNet1_1_Weights.IMAGENET1K_V1


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, by index (torchvision's metadata, no download)."""
    return list(_weights().meta["categories"])


def _cached_weights_file() -> Path:
    url = _weights().url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _freeze(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def seeded_squeezenet(seed: int = 0) -> torch.nn.Module:
    """SqueezeNet 1.1 with random weights drawn from ``seed`` (global RNG untouched)."""
    from torchvision.models import squeezenet1_1

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = squeezenet1_1(weights=None)
    return _freeze(model)


def load_squeezenet(pretrained=True, seed=0, verbose=True):
    """SqueezeNet 1.1, frozen (eval mode, no parameter requires grad).

    With ``pretrained`` it carries torchvision's ImageNet weights
    (``SqueezeNet1_1_Weights.IMAGENET1K_V1``) from torch's cache, or downloaded when
    download.pytorch.org answers within a few seconds (set ``DLCOURSE_OFFLINE=1`` to skip
    the network). When they cannot be had, or ``pretrained`` is False, the same
    architecture gets random weights drawn from ``seed``: untrained but deterministic,
    so every cell still runs.

    Returns ``(model, is_pretrained)``.
    """
    from torchvision.models import squeezenet1_1

    if pretrained:
        reason = ""
        cached = _cached_weights_file()
        if cached.exists() or host_answers(WEIGHTS_HOST):
            try:
                model = squeezenet1_1(weights=_weights(), progress=False)
                if verbose:
                    print("Loaded SqueezeNet 1.1 with its pretrained ImageNet weights.")
                return _freeze(model), True
            except Exception as exc:  # a broken cache file or a download cut short
                reason = f" ({type(exc).__name__}: {exc})"
        elif offline_forced():
            reason = f" (not in torch's cache, and {OFFLINE_ENV} is set)"
        else:
            reason = f" (not in torch's cache, and {WEIGHTS_HOST} did not answer within {NETWORK_TIMEOUT:g} s)"
        if verbose:
            print("Pretrained SqueezeNet weights are unavailable" + reason + ".\n"
                  f"Using an UNTRAINED SqueezeNet 1.1 with random weights (seed {seed}): "
                  "every cell still runs, but its predictions and pictures are not meaningful.")
    elif verbose:
        print(f"Using an untrained SqueezeNet 1.1 with random weights (seed {seed}).")
    return seeded_squeezenet(seed), False


# --------------------------------------------------------------------------- data

# The offline stand-in for the ImageNet sample: real photographs bundled with
# scikit-image, each with the ImageNet class it plausibly belongs to.
OFFLINE_PHOTOS = [
    ("chelsea", 281),            # tabby
    ("coffee", 967),             # espresso
    ("rocket", 657),             # missile
    ("stereo_motorcycle", 665),  # moped
    ("camera", 872),             # tripod (the cameraman's)
    ("clock", 892),              # wall clock
]


def _data_root() -> Path:
    try:
        from dlcourse.data.paths import data_root
    except ImportError:
        env = os.environ.get("DLCOURSE_DATA", "").strip()
        return Path(env).expanduser() if env else Path.home() / ".dlcourse" / "data"
    return data_root()


def _square_224(photo: np.ndarray) -> np.ndarray:
    """Centre-crop a photo to a square and resize it to (224, 224, 3) uint8."""
    from PIL import Image

    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    photo = photo[..., :3]
    h, w = photo.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = Image.fromarray(np.ascontiguousarray(photo[top:top + s, left:left + s]))
    return np.asarray(crop.resize((224, 224), Image.BILINEAR), dtype=np.uint8)


def offline_imagenet_sample():
    """``X (n, 224, 224, 3) uint8, y (n,) int64`` from scikit-image's bundled photos."""
    import skimage.data

    images, labels = [], []
    for name, label in OFFLINE_PHOTOS:
        try:
            photo = getattr(skimage.data, name)()
        except Exception:  # a photo this scikit-image version does not bundle
            continue
        if isinstance(photo, tuple):  # stereo_motorcycle returns (left, right, disparity)
            photo = photo[0]
        images.append(_square_224(np.asarray(photo)))
        labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def load_imagenet_val(num=None):
    """A few ImageNet validation images with their labels.

    Reads ``imagenet_val_25.npz`` (keys X, y, label_map) from the data root when it is
    there (``python -m dlcourse.download imagenet_val_25``); otherwise prints a note and
    uses the offline stand-in (``OFFLINE_PHOTOS``, fewer than 25 images).

    Returns:
    - X: uint8 array (num, 224, 224, 3)
    - y: int64 array (num,) of ImageNet class indices
    - class_names: dict {class index: name} for all 1000 classes
    """
    path = _data_root() / "imagenet_val_25.npz"
    if path.exists():
        with np.load(path, allow_pickle=True) as f:
            X, y = f["X"], np.asarray(f["y"], dtype=np.int64)
            label_map = f["label_map"]
            label_map = label_map.item() if label_map.dtype == object and label_map.ndim == 0 else label_map
        if isinstance(label_map, dict):
            class_names = {int(k): str(v) for k, v in label_map.items()}
        else:
            class_names = {i: str(v) for i, v in enumerate(label_map)}
    else:
        print(f"{path} not found: using {len(OFFLINE_PHOTOS)} photos bundled with "
              "scikit-image as an offline stand-in for the ImageNet sample "
              "(python -m dlcourse.download imagenet_val_25 fetches the real one).")
        X, y = offline_imagenet_sample()
        class_names = dict(enumerate(imagenet_class_names()))
    if num is not None:
        X, y = X[:num], y[:num]
    return X, y, class_names
