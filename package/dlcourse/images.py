"""Images from URLs, a grid of captioned images that copes with dead links, and the checks
of downloaded image files (``image_problems``, ``imagenet_val_problems``: dlcourse.download).

Many Flickr URLs of COCO no longer work, and offline machines reach no URL at all, so
``image_from_url`` never raises: it prints a short note and returns None, and
``show_captioned_images`` draws a grey "image unavailable" tile instead.
"""
from __future__ import annotations

import io
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

USER_AGENT = "dlcourse/0.1 (deep-learning course helper)"
PLACEHOLDER_GREY = 0.8  # brightness of the "image unavailable" tile


def image_from_url(url: str, timeout: float = 5):
    """Read an image from an http(s) or file:// URL (or a plain local path).

    Inputs:
    - url: ``http://...``, ``https://...``, ``file:///...`` or a path on this machine
    - timeout: seconds to wait for a network answer

    Returns a uint8 array of shape (H, W, 3) (RGB), or None when the image cannot be had
    (dead URL, HTTP error, timeout, no network, not an image). Never raises; a one-line
    note on stdout says what went wrong.
    """
    from PIL import Image

    url = str(url)
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        elif scheme == "file":
            path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
            with open(path, "rb") as fh:
                raw = fh.read()
        elif scheme == "" or len(scheme) == 1:  # a plain path (or a Windows drive letter)
            with open(url, "rb") as fh:
                raw = fh.read()
        else:
            print(f"image_from_url: unsupported URL scheme {scheme!r} in {url}")
            return None
        with Image.open(io.BytesIO(raw)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:  # noqa: BLE001 -- a broken image must never stop a notebook
        reason = str(exc) or type(exc).__name__
        if "cannot identify image" in reason:
            reason = "not an image"
        print(f"image_from_url: could not load {url} ({reason})")
        return None


def show_captioned_images(urls, captions, ncols: int = 4, timeout: float = 5, tile_size: float = 2.6):
    """Draw images with their captions in a grid (matplotlib).

    Inputs:
    - urls: sequence of N image URLs (see ``image_from_url``)
    - captions: sequence of N strings, shown above each image (wrapped)
    - ncols: images per row
    - timeout: seconds to wait for each network image
    - tile_size: width and height of one tile in inches

    An image that cannot be loaded is drawn as a grey tile reading "image unavailable".
    The figure is left as pyplot's current figure (``plt.gcf()``; notebooks show it) and
    nothing is returned, so the figure is not displayed twice in a notebook.
    """
    import matplotlib.pyplot as plt

    urls, captions = list(urls), list(captions)
    if len(urls) != len(captions):
        raise ValueError(f"{len(urls)} URLs but {len(captions)} captions")
    n = len(urls)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile_size * ncols, (tile_size + 0.5) * nrows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, url, caption in zip(axes.ravel(), urls, captions):
        img = image_from_url(url, timeout=timeout)
        if img is None:
            ax.imshow(np.full((64, 64, 3), round(255 * PLACEHOLDER_GREY), np.uint8))
            ax.text(32, 32, "image unavailable", ha="center", va="center", fontsize=9, color="0.25")
        else:
            ax.imshow(img)
        ax.set_title("\n".join(textwrap.wrap(str(caption), 28)), fontsize=8)
    fig.tight_layout()


def imagenet_val_problems(path: Path) -> list:
    """What is wrong with an .npz that should hold X (25, 224, 224, 3) uint8, y (25,) and label_map."""
    try:
        with np.load(path, allow_pickle=True) as npz:
            X, y, _ = npz["X"], npz["y"], npz["label_map"]
    except Exception as exc:  # noqa: BLE001 -- any failure to read means a bad file
        return [f"{path.name} is not a readable .npz file with X, y and label_map ({exc})"]
    if X.shape != (25, 224, 224, 3) or X.dtype != np.uint8 or y.shape != (25,):
        return [f"{path.name}: X is {X.shape} {X.dtype}, y {y.shape}; expected (25, 224, 224, 3) uint8, (25,)"]
    return []


def image_problems(path: Path) -> list:
    """What keeps ``path`` from being a decodable image of at least 32x32 pixels."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
    except Exception as exc:  # noqa: BLE001
        return [f"{path.name} is not a decodable image ({exc})"]
    return [f"{path.name} is only {img.size[0]}x{img.size[1]} pixels"] if min(img.size) < 32 else []
