"""The offline captioning set: small generated scenes in the COCO captioning layout.

Course machines and grading servers are often offline, so the captioning assignments
also run on a set this module generates. It mimics the real archive file by file, so
``load_coco_data`` reads both the same way:

=============================  =========================================================
file                           content
=============================  =========================================================
``coco2014_captions.h5``       ``train_captions`` (Nc, 17) int32, ``train_image_idxs``
                               (Nc,) int32, and the same two for ``val``
``coco2014_vocab.json``        ``idx_to_word`` (list) and ``word_to_idx`` (dict)
``train2014_vgg16_fc7.h5``     ``features`` (Ni, 4096) float32 (``val2014_...`` alike)
``train2014_vgg16_fc7_pca.h5`` ``features`` (Ni, 512) float32 (``val2014_...`` alike)
``train2014_urls.txt``         one image per line, relative: ``images/train/000017.png``
=============================  =========================================================

Images have real pixels (``images/train/*.png``, ``images/val/*.png``, 96x96 RGB): one to
three coloured shapes (circle, square, triangle, star, cross) of two sizes at random
positions, on a plain colour, a texture (grass, brick, gravel) or a photo from
scikit-image's bundled samples (a cat, a coffee cup, an astronaut). A small grammar writes
five varied captions per image from what was drawn (synonyms, word order, optional size,
position and background phrases), at most 15 words, so 17 tokens with ``<START>`` and
``<END>``. The vocabulary is built from the training captions; words seen fewer than
``MIN_WORD_COUNT`` times become ``<UNK>``.

Features stand in for VGG-16 fc7: a fixed, untrained network (``FeatureNet``: colour units
with rotation-invariant edge harmonics, and seeded random convolutions with ReLU and
pooling, projected at random to 4096 units with ReLU) computed from the pixels, then PCA to
512 fitted on the training images. A
captioning model trained on the training split can therefore describe unseen validation
scenes (the validation scenes are separate random draws, not copies).

Everything is seeded: two runs write identical bytes. Generation takes up to a minute;
the folder is written under a temporary name and renamed into place at the end, so two
processes generating at once cannot leave a half-written set behind.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcourse.data.paths import offline_coco_dir

# Bump when the generator's output changes: existing sets of another version are rebuilt.
GENERATOR_VERSION = 1
SEED = 231  # one seed for everything: scenes, captions, the feature network
IMAGE_SIZE = 96  # pixels; small enough to render and encode ~2,400 images in seconds
N_TRAIN_IMAGES = 2000  # the real archive has 82,783
N_VAL_IMAGES = 400  # the real archive has 40,504
CAPTIONS_PER_IMAGE = 5  # as in COCO
MAX_WORDS = 15  # + <START> and <END> = 17 tokens, the real archive's caption length
MIN_WORD_COUNT = 3  # rarer training words become <UNK>, like the real vocabulary
FEATURE_DIM = 4096  # VGG-16 fc7 width
PCA_DIM = 512  # width of the real *_pca.h5 features
SPECIAL_TOKENS = ["<NULL>", "<START>", "<END>", "<UNK>"]

FILES = [
    "coco2014_captions.h5",
    "coco2014_vocab.json",
    "train2014_vgg16_fc7.h5",
    "train2014_vgg16_fc7_pca.h5",
    "val2014_vgg16_fc7.h5",
    "val2014_vgg16_fc7_pca.h5",
    "train2014_urls.txt",
    "val2014_urls.txt",
]
MANIFEST = "offline_manifest.json"

# ------------------------------------------------------------------------------------
# Scene vocabulary
# ------------------------------------------------------------------------------------

COLOURS = {  # name -> RGB
    "red": (215, 35, 35),
    "green": (40, 165, 60),
    "blue": (40, 75, 220),
    "yellow": (240, 215, 35),
    "orange": (245, 135, 20),
    "purple": (140, 50, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ["circle", "square", "triangle", "star", "cross"]
SHAPE_WORDS = {  # synonyms a caption may use
    "circle": ["circle", "circle", "disk", "dot"],
    "square": ["square", "square", "box"],
    "triangle": ["triangle"],
    "star": ["star"],
    "cross": ["cross", "cross", "plus"],
}
PLURAL = {"circle": "circles", "disk": "disks", "dot": "dots", "square": "squares",
          "box": "boxes", "triangle": "triangles", "star": "stars", "cross": "crosses",
          "plus": "pluses"}
SIZE_WORDS = {"small": ["small", "small", "little", "tiny"], "large": ["large", "big", "big"]}
SIZE_RADIUS = {"small": (7.0, 11.0), "large": (16.0, 23.0)}  # circumradius in pixels

BACKGROUNDS = {  # name -> (kind, phrases a caption may use)
    "white": ("plain", [["on", "a", "white", "background"], ["on", "white"]]),
    "black": ("plain", [["on", "a", "black", "background"], ["on", "a", "dark", "background"]]),
    "gray": ("plain", [["on", "a", "gray", "background"], ["on", "gray"]]),
    "grass": ("texture", [["on", "grass"], ["on", "green", "grass"], ["on", "a", "grassy", "field"]]),
    "brick": ("texture", [["on", "a", "brick", "wall"], ["in", "front", "of", "a", "brick", "wall"]]),
    "gravel": ("texture", [["on", "gravel"], ["on", "a", "gravel", "path"]]),
    "cat": ("photo", [["over", "a", "photo", "of", "a", "cat"], ["in", "front", "of", "a", "cat"]]),
    "coffee": ("photo", [["over", "a", "photo", "of", "coffee"],
                         ["on", "a", "picture", "of", "a", "coffee", "cup"]]),
    "astronaut": ("photo", [["over", "a", "photo", "of", "an", "astronaut"],
                            ["in", "front", "of", "an", "astronaut"]]),
}
PLAIN_RGB = {"white": (238, 238, 234), "black": (24, 24, 28), "gray": (128, 128, 132)}
TEXTURE_TINT = {"grass": (0.55, 0.85, 0.40), "brick": (0.85, 0.50, 0.40), "gravel": (0.75, 0.75, 0.72)}
CLASHES = {"white": {"white"}, "black": {"black"}, "grass": {"green"}, "gray": set(),
           "brick": {"red", "orange"}, "gravel": set(), "cat": set(), "coffee": set(),
           "astronaut": {"white"}}

# Rare decorative words: each appears only a few times, so most become <UNK>.
RARE_WORDS = (
    "shiny bright pale faded glossy plastic wooden paper neat lonely cheerful bold "
    "crisp dull fuzzy glowing hand painted tilted vivid pastel metallic smooth rough "
    "simple quiet modern classic odd cute tidy lovely chunky flat cartoon sketchy "
    "striking colourful sharp soft clean rustic"
).split()
RARE_WORD_P = 0.012  # chance that a caption gets one rare word

POSITION_PHRASES = {  # (column, row) -> phrases
    ("left", "top"): [["in", "the", "top", "left", "corner"], ["at", "the", "top", "left"]],
    ("center", "top"): [["at", "the", "top"], ["near", "the", "top"]],
    ("right", "top"): [["in", "the", "top", "right", "corner"], ["at", "the", "top", "right"]],
    ("left", "middle"): [["on", "the", "left"], ["on", "the", "left", "side"]],
    ("center", "middle"): [["in", "the", "center"], ["in", "the", "middle"]],
    ("right", "middle"): [["on", "the", "right"], ["on", "the", "right", "side"]],
    ("left", "bottom"): [["in", "the", "bottom", "left", "corner"], ["at", "the", "bottom", "left"]],
    ("center", "bottom"): [["at", "the", "bottom"], ["near", "the", "bottom"]],
    ("right", "bottom"): [["in", "the", "bottom", "right", "corner"], ["at", "the", "bottom", "right"]],
}


@dataclass
class Shape:
    """One drawn object: kind, colour name, size word, centre (x, y) and radius in pixels."""

    kind: str
    colour: str
    size: str
    x: float
    y: float
    r: float
    angle: float = 0.0  # rotation in degrees (not mentioned by captions)


@dataclass
class Scene:
    """A background and one to three shapes, with the crop used for textured backgrounds."""

    background: str
    shapes: list = field(default_factory=list)
    crop: tuple = (0, 0)  # top-left corner of the background crop
    tone: float = 1.0  # brightness factor of the background


# ------------------------------------------------------------------------------------
# Sampling scenes
# ------------------------------------------------------------------------------------

def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw a random scene: background, number of objects, their attributes and places."""
    background = str(rng.choice(list(BACKGROUNDS), p=[0.12, 0.12, 0.1, 0.12, 0.12, 0.1, 0.1, 0.1, 0.12]))
    n_objects = int(rng.choice([1, 2, 3], p=[0.4, 0.42, 0.18]))
    scene = Scene(background, crop=(int(rng.integers(0, 1000)), int(rng.integers(0, 1000))),
                  tone=float(rng.uniform(0.85, 1.1)))
    colours = [c for c in COLOURS if c not in CLASHES[background]]
    S = IMAGE_SIZE
    while len(scene.shapes) < n_objects:
        size = "large" if rng.random() < 0.45 else "small"
        if n_objects == 3:
            size = "small" if rng.random() < 0.7 else size
        lo, hi = SIZE_RADIUS[size]
        r = float(rng.uniform(lo, hi))
        for _ in range(50):  # rejection sampling of a free spot
            x, y = rng.uniform(r + 2, S - r - 2, size=2)
            if all(np.hypot(x - s.x, y - s.y) > r + s.r + 4 for s in scene.shapes):
                break
        else:
            continue  # no room: draw another object
        scene.shapes.append(Shape(str(rng.choice(SHAPES)), str(rng.choice(colours)), size,
                                  float(x), float(y), r, float(rng.uniform(-20, 20))))
    return scene


# ------------------------------------------------------------------------------------
# Captions: a small grammar over the scene
# ------------------------------------------------------------------------------------

def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _noun_phrase(rng, s: Shape, size_p=0.5, colour_p=0.92, plural=False):
    words = []
    if rng.random() < size_p:
        words.append(_pick(rng, SIZE_WORDS[s.size]))
    if rng.random() < colour_p:
        words.append(s.colour)
    noun = _pick(rng, SHAPE_WORDS[s.kind])
    words.append(PLURAL[noun] if plural else noun)
    return words


def _with_article(words):
    return (["an"] if words[0][0] in "aeiou" else ["a"]) + words


def _position(s: Shape):
    third = IMAGE_SIZE / 3
    col = "left" if s.x < third else "right" if s.x > 2 * third else "center"
    row = "top" if s.y < third else "bottom" if s.y > 2 * third else "middle"
    return col, row


def _relation(a: Shape, b: Shape):
    """Where ``a`` is relative to ``b``, in words."""
    dx, dy = a.x - b.x, a.y - b.y
    if max(abs(dx), abs(dy)) < 14:
        return ["next", "to"]
    if abs(dx) >= abs(dy):
        return ["to", "the", "left", "of"] if dx < 0 else ["to", "the", "right", "of"]
    return ["above"] if dy < 0 else ["below"]


def _caption_one(rng, scene: Scene):
    s = scene.shapes[0]
    np_ = _with_article(_noun_phrase(rng, s))
    pos = _pick(rng, POSITION_PHRASES[_position(s)])
    bg = _pick(rng, BACKGROUNDS[scene.background][1])
    opt_pos = pos if rng.random() < 0.5 else []
    opt_bg = bg if rng.random() < 0.4 else []
    t = int(rng.integers(6))
    if t == 0:
        return np_ + opt_pos + opt_bg
    if t == 1:
        return ["there", "is"] + np_ + opt_pos + opt_bg
    if t == 2:
        return _pick(rng, [["a", "picture", "of"], ["an", "image", "of"], ["a", "drawing", "of"]]) + np_ + opt_bg
    if t == 3:
        return pos + ["there", "is"] + np_
    if t == 4:
        return ["a", "single"] + _noun_phrase(rng, s, size_p=0.3, colour_p=1.0) + opt_pos + opt_bg
    return np_ + [_pick(rng, ["drawn", "placed", "sitting"])] + pos


def _caption_two(rng, scene: Scene):
    a, b = scene.shapes[:2]
    if rng.random() < 0.5:
        a, b = b, a
    np_a = _with_article(_noun_phrase(rng, a))
    np_b = _with_article(_noun_phrase(rng, b))
    bg = _pick(rng, BACKGROUNDS[scene.background][1])
    opt_bg = bg if rng.random() < 0.35 else []
    t = int(rng.integers(6))
    if t == 0:
        return np_a + _relation(a, b) + np_b
    if t == 1:
        return np_a + ["and"] + np_b + opt_bg
    if t == 2:
        return ["there", "is"] + np_a + _relation(a, b) + np_b
    if t == 3:
        return _pick(rng, [["a", "picture", "with"], ["an", "image", "with"]]) + np_a + ["and"] + np_b
    if t == 4 and a.colour == b.colour:
        return ["two", a.colour, _pick(rng, [["shapes"], ["objects"]])[0]] + bg
    if t == 4 and a.kind == b.kind:
        noun = PLURAL[_pick(rng, SHAPE_WORDS[a.kind])]
        return ["two", noun, "one", a.colour, "and", "one", b.colour]
    return ["two", "shapes"] + bg + [_pick(rng, ["including", "with"])] + np_a


def _caption_three(rng, scene: Scene):
    order = rng.permutation(3)
    a, b, c = (scene.shapes[i] for i in order)
    np_a, np_b, np_c = (_with_article(_noun_phrase(rng, s, size_p=0.25)) for s in (a, b, c))
    bg = _pick(rng, BACKGROUNDS[scene.background][1])
    t = int(rng.integers(5))
    if t == 0:
        return ["three", _pick(rng, ["shapes", "objects"])] + bg
    if t == 1:
        return ["three", _pick(rng, ["colorful", "different"]), "shapes", "including"] + np_a
    if t == 2:
        return np_a + ["with"] + np_b + ["and"] + np_c
    if t == 3:
        return np_a + _relation(a, b) + np_b + ["and"] + np_c
    return ["a", "group", "of", "three", "shapes"] + bg


CAPTION_BY_COUNT = {1: _caption_one, 2: _caption_two, 3: _caption_three}


def caption_scene(rng: np.random.Generator, scene: Scene, n: int = CAPTIONS_PER_IMAGE) -> list:
    """``n`` different captions (lists of words, at most ``MAX_WORDS`` each) of ``scene``."""
    captions: list = []
    for _ in range(60):
        words = CAPTION_BY_COUNT[len(scene.shapes)](rng, scene)
        if rng.random() < RARE_WORD_P:  # a rare decorative word before the last noun
            words = words[:-1] + [_pick(rng, RARE_WORDS)] + words[-1:]
        if len(words) <= MAX_WORDS and words not in captions:
            captions.append(words)
        if len(captions) == n:
            break
    while len(captions) < n:  # very plain scenes may have fewer distinct captions
        captions.append(captions[len(captions) % max(1, len(captions))])
    return captions


# ------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------

def _load_backgrounds():
    """Source images for textured and photo backgrounds (scikit-image's bundled samples)."""
    from PIL import Image
    from skimage import data as skdata

    out = {}
    for name, loader in [("grass", skdata.grass), ("brick", skdata.brick), ("gravel", skdata.gravel)]:
        gray = Image.fromarray(loader()).resize((256, 256), Image.BILINEAR)
        g = np.asarray(gray, dtype=np.float32) / 255.0
        g = 0.35 + 0.5 * (g - g.mean())  # low contrast, so shapes stay visible
        out[name] = np.clip(g[..., None] * np.array(TEXTURE_TINT[name], np.float32) * 255 * 1.3, 0, 255)
    for name, loader in [("cat", skdata.chelsea), ("coffee", skdata.coffee), ("astronaut", skdata.astronaut)]:
        img = Image.fromarray(loader())
        w, h = img.size
        scale = 160 / min(w, h)  # crops of 96 from 160 vary the view
        img = img.resize((max(160, round(w * scale)), max(160, round(h * scale))), Image.BILINEAR)
        out[name] = np.asarray(img, dtype=np.float32) * 0.85
    return out


def _background(scene: Scene, sources) -> np.ndarray:
    S = IMAGE_SIZE
    if scene.background in PLAIN_RGB:
        base = np.array(PLAIN_RGB[scene.background], np.float32)
        ramp = np.linspace(-8, 8, S, dtype=np.float32)  # a gentle vertical shading
        return np.clip(base + ramp[:, None, None] * np.ones((1, S, 1), np.float32), 0, 255)
    src = sources[scene.background]
    H, W = src.shape[:2]
    top = scene.crop[0] % (H - S + 1)
    left = scene.crop[1] % (W - S + 1)
    return np.clip(src[top:top + S, left:left + S] * scene.tone, 0, 255)


def _polygon(s: Shape, scale: float):
    """Vertices (in the supersampled frame) of a square, triangle, star or cross."""
    if s.kind == "square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = [(0.78 * u, 0.78 * v) for u, v in pts]
    elif s.kind == "triangle":
        pts = [(np.cos(np.radians(a)), np.sin(np.radians(a))) for a in (-90, 30, 150)]
    elif s.kind == "star":
        pts = []
        for k in range(10):
            rad = 1.0 if k % 2 == 0 else 0.42
            a = np.radians(-90 + 36 * k)
            pts.append((rad * np.cos(a), rad * np.sin(a)))
    else:  # cross
        w = 0.32
        pts = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1),
               (-w, w), (-1, w), (-1, -w), (-w, -w)]
    c, sn = np.cos(np.radians(s.angle)), np.sin(np.radians(s.angle))
    return [((s.x + s.r * (u * c - v * sn)) * scale, (s.y + s.r * (u * sn + v * c)) * scale)
            for u, v in pts]


def render_scene(scene: Scene, sources) -> np.ndarray:
    """Draw ``scene`` as a uint8 RGB array (IMAGE_SIZE, IMAGE_SIZE, 3), anti-aliased."""
    from PIL import Image, ImageDraw

    S, k = IMAGE_SIZE, 4  # shapes are drawn 4x larger and box-filtered down
    img = _background(scene, sources)
    for s in scene.shapes:
        mask = Image.new("L", (S * k, S * k), 0)
        draw = ImageDraw.Draw(mask)
        if s.kind == "circle":
            r = 0.9 * s.r * k
            draw.ellipse([s.x * k - r, s.y * k - r, s.x * k + r, s.y * k + r], fill=255)
        else:
            draw.polygon(_polygon(s, k), fill=255)
        alpha = np.asarray(mask.resize((S, S), Image.BOX), np.float32)[..., None] / 255.0
        img = img * (1 - alpha) + np.array(COLOURS[s.colour], np.float32) * alpha
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------
# Features: a fixed network standing in for VGG-16 fc7
# ------------------------------------------------------------------------------------

def _pool2(images: np.ndarray) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, S/2, S/2, 3) in [0, 1], 2x2 average pooling."""
    u = images.astype(np.uint16)
    return (u[:, 0::2, 0::2] + u[:, 1::2, 0::2] + u[:, 0::2, 1::2] + u[:, 1::2, 1::2]).astype(np.float32) / (4 * 255)


def _conv_relu(x, w, b, k):
    """Valid convolution + ReLU: x (N, H, W, C), w (C*k*k, F) -> (N, H-k+1, W-k+1, F)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (N, H', W', C, k, k)
    N, Ho, Wo = win.shape[:3]
    return np.maximum(win.reshape(N * Ho * Wo, -1) @ w + b, 0).reshape(N, Ho, Wo, -1)


def _summaries(a):
    """a (N, H, W, F) -> (N, 11 F): global max, global mean and 3x3 grid means per channel."""
    N, H, W, F = a.shape
    parts = [a.max(axis=(1, 2)), a.mean(axis=(1, 2))]
    hs, ws = np.linspace(0, H, 4).astype(int), np.linspace(0, W, 4).astype(int)
    for i in range(3):
        for j in range(3):
            parts.append(a[:, hs[i]:hs[i + 1], ws[j]:ws[j + 1]].mean(axis=(1, 2)))
    return np.concatenate(parts, axis=1)


class FeatureNet:
    """A fixed (untrained) network: images (N, S, S, 3) uint8 -> features (N, 4096) float32.

    Two branches read the image at half resolution (48x48):

    - *palette branch*: one unit per palette colour responds to pixels of that colour
      (a radial-basis 1x1 layer with a threshold); on each colour map, oriented edge
      responses are pooled into rotation-invariant harmonics (edge energy at 1..6-fold
      symmetry: a triangle is 3-fold, a square 4-fold, a star 5-fold, a circle none),
      plus the map's area and its 3x3 grid occupancy (where the colour is);
    - *random branch*: seeded random 5x5 convolution (3 -> 32) + ReLU, 2x2 max-pool,
      random 3x3 convolution (32 -> 64) + ReLU, each summarised by global max, global
      mean and 3x3 grid means (textures, backgrounds, layout).

    The summaries are standardised with statistics of the training images (``fit``),
    mapped by a seeded random projection to 4096 units with ReLU (like fc7, features are
    non-negative) and rounded to multiples of 2**-12, so that tiny floating-point
    differences between machines do not change the stored bytes.
    """

    PALETTE = np.array(list(COLOURS.values()), np.float32) / 255.0  # (K, 3)
    SIGMA = 0.13  # colour tolerance of a palette unit, in RGB units of [0, 1]

    def __init__(self, seed: int = SEED):
        rng = np.random.default_rng([seed, 1])
        self.w1 = (rng.standard_normal((3 * 5 * 5, 32)) / np.sqrt(75)).astype(np.float32)
        self.b1 = (0.1 * rng.standard_normal(32)).astype(np.float32)
        self.w2 = (rng.standard_normal((32 * 3 * 3, 64)) / np.sqrt(288)).astype(np.float32)
        self.b2 = (0.1 * rng.standard_normal(64)).astype(np.float32)
        K = len(self.PALETTE)
        self.n_palette = K * (1 + 1 + 6 + 1 + 9) + 6 + 1
        self.n_random = (32 + 64) * 11
        d = self.n_palette + self.n_random
        self.w3 = (rng.standard_normal((d, FEATURE_DIM)) / np.sqrt(d)).astype(np.float32)
        self.b3 = (0.5 * rng.standard_normal(FEATURE_DIM)).astype(np.float32)
        self.mean = self.std = None

    def _palette_branch(self, x):
        """x (N, 48, 48, 3) in [0, 1] -> (N, n_palette)."""
        d2 = ((x[:, :, :, None, :] - self.PALETTE) ** 2).sum(-1)  # (N, H, W, K)
        m = np.maximum(np.exp(-d2 / (2 * self.SIGMA ** 2)) - 0.3, 0) / 0.7  # colour maps
        gx = m[:, 1:-1, 2:] - m[:, 1:-1, :-2]  # horizontal and vertical edges of each map
        gy = m[:, 2:, 1:-1] - m[:, :-2, 1:-1]
        mag = np.sqrt(gx * gx + gy * gy) + 1e-6
        c, s = gx / mag, gy / mag  # cos and sin of the edge normal's angle
        energy = [mag.sum(axis=(1, 2))]  # (N, K) per harmonic
        ck, sk = c, s
        for k in range(1, 7):  # |sum mag * exp(i k angle)|: k-fold symmetric edge energy
            if k > 1:
                ck, sk = ck * c - sk * s, sk * c + ck * s
            energy.append(np.hypot((mag * ck).sum(axis=(1, 2)), (mag * sk).sum(axis=(1, 2))))
        energy = np.stack(energy, -1)  # (N, K, 7)
        area = m.sum(axis=(1, 2))  # (N, K)
        present = (area > 4).astype(np.float32)
        ratios = energy[..., 1:] / (energy[..., :1] + 1e-3) * present[..., None]  # (N, K, 6)
        compact = present * area / (energy[..., 0] ** 2 + 1e-3)  # (N, K)
        N, H, W, K = m.shape
        grid = m.reshape(N, 3, H // 3, 3, W // 3, K).mean(axis=(2, 4)).reshape(N, 9, K).transpose(0, 2, 1)
        per_colour = np.concatenate([present[..., None], np.log1p(area)[..., None], ratios,
                                     compact[..., None], grid], axis=-1)  # (N, K, 18)
        return np.concatenate([per_colour.reshape(N, -1), ratios.sum(1), compact.sum(1, keepdims=True)], 1)

    def _random_branch(self, x):
        """x (N, 48, 48, 3) in [0, 1] -> (N, n_random)."""
        N = len(x)
        a1 = _conv_relu(x - 0.5, self.w1, self.b1, 5)  # (N, 44, 44, 32)
        p1 = a1.reshape(N, 22, 2, 22, 2, -1).max(axis=(2, 4))  # (N, 22, 22, 32)
        a2 = _conv_relu(p1, self.w2, self.b2, 3)  # (N, 20, 20, 64)
        return np.concatenate([_summaries(a1), _summaries(a2)], axis=1)

    def summaries(self, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
        """Both branches: images (N, S, S, 3) uint8 -> (N, n_palette + n_random) float32."""
        parts = []
        for start in range(0, len(images), batch_size):
            x = _pool2(images[start:start + batch_size])
            parts.append(np.concatenate([self._palette_branch(x), self._random_branch(x)], 1))
        return np.concatenate(parts).astype(np.float32)

    def fit(self, train_summaries: np.ndarray) -> "FeatureNet":
        """Standardisation statistics from the training images' summaries."""
        z = train_summaries.astype(np.float64)
        self.mean = z.mean(axis=0)
        self.std = z.std(axis=0) + 1e-3
        # Give both branches the same total weight although the random one is wider.
        self.std[self.n_palette:] *= np.sqrt(self.n_random / self.n_palette)
        return self

    def features(self, summaries: np.ndarray) -> np.ndarray:
        """(N, n_palette + n_random) summaries -> (N, 4096) float32 features."""
        z = ((summaries - self.mean) / self.std).astype(np.float32)
        return _quantise(np.maximum(z @ self.w3 + self.b3, 0))


def _quantise(x):
    return (np.rint(np.asarray(x, np.float64) * 4096.0) / 4096.0).astype(np.float32)


def fit_pca(features: np.ndarray, dim: int = PCA_DIM):
    """Mean (F,) and the top ``dim`` principal directions (F, dim) of ``features`` (N, F).

    Computed from the N x N Gram matrix (cheaper than an SVD when N < F); each direction's
    sign is fixed (largest entry positive) so that repeated runs agree. With fewer than
    ``dim`` images the missing directions are zero columns.
    """
    X = features.astype(np.float64)
    mean = X.mean(axis=0)
    Xc = X - mean
    evals, evecs = np.linalg.eigh(Xc @ Xc.T)  # ascending
    top = np.argsort(evals)[::-1][:dim]
    comps = Xc.T @ evecs[:, top] / np.sqrt(np.maximum(evals[top], 1e-12))  # (F, dim), unit columns
    comps[:, evals[top] <= 1e-9 * evals[top[0]]] = 0.0  # directions without variance
    signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(comps.shape[1])])
    comps = comps * signs
    if comps.shape[1] < dim:  # tiny sets (tests) have fewer directions than dim: pad with zeros
        comps = np.hstack([comps, np.zeros((comps.shape[0], dim - comps.shape[1]))])
    return mean, comps


# ------------------------------------------------------------------------------------
# Writing the set
# ------------------------------------------------------------------------------------

def build_vocab(captions: list, min_count: int = MIN_WORD_COUNT):
    """idx_to_word (specials first, then words by falling count) and word_to_idx."""
    counts: dict = {}
    for words in captions:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    idx_to_word = SPECIAL_TOKENS + kept
    return idx_to_word, {w: i for i, w in enumerate(idx_to_word)}


def encode(words: list, word_to_idx: dict) -> np.ndarray:
    """[<START>, words..., <END>] as int32 indices, <NULL>-padded to MAX_WORDS + 2."""
    unk = word_to_idx["<UNK>"]
    ids = [word_to_idx["<START>"]] + [word_to_idx.get(w, unk) for w in words] + [word_to_idx["<END>"]]
    out = np.zeros(MAX_WORDS + 2, np.int32)
    out[:len(ids)] = ids
    return out


def _write_h5(path: Path, arrays: dict) -> None:
    import h5py

    with h5py.File(path, "w", track_order=False) as f:
        for name, value in arrays.items():
            f.create_dataset(name, data=value, track_times=False)


def _manifest(n_train, n_val, seed):
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "image_size": IMAGE_SIZE,
            "n_train_images": n_train, "n_val_images": n_val,
            "captions_per_image": CAPTIONS_PER_IMAGE}


def read_manifest(folder: Path):
    """The manifest of a generated set, or None when ``folder`` holds no complete set."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all((Path(folder) / name).is_file() for name in FILES):
        return None
    return manifest


def _build(tmp: Path, n_train: int, n_val: int, seed: int, verbose: bool) -> dict:
    """Render, caption and featurise into ``tmp``; returns summary numbers."""
    from PIL import Image

    t0 = time.perf_counter()
    sources = _load_backgrounds()
    split_data = {}
    for split, n, stream in [("train", n_train, 2), ("val", n_val, 3)]:
        rng = np.random.default_rng([seed, stream])  # separate draws: no val image copies a train one
        (tmp / "images" / split).mkdir(parents=True)
        images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        captions, image_idxs, urls = [], [], []
        for i in range(n):
            scene = sample_scene(rng)
            images[i] = render_scene(scene, sources)
            rel = f"images/{split}/{i:06d}.png"
            Image.fromarray(images[i]).save(tmp / rel, compress_level=1)
            urls.append(rel)
            for words in caption_scene(rng, scene):
                captions.append(words)
                image_idxs.append(i)
        order = rng.permutation(len(captions))  # COCO's caption rows are not grouped by image
        split_data[split] = {"images": images, "captions": [captions[j] for j in order],
                             "image_idxs": np.asarray(image_idxs, np.int32)[order], "urls": urls}
    t_render = time.perf_counter() - t0

    idx_to_word, word_to_idx = build_vocab(split_data["train"]["captions"])
    (tmp / "coco2014_vocab.json").write_text(
        json.dumps({"idx_to_word": idx_to_word, "word_to_idx": word_to_idx}, sort_keys=True))
    arrays = {}
    for split in ("train", "val"):
        d = split_data[split]
        arrays[f"{split}_captions"] = np.stack([encode(w, word_to_idx) for w in d["captions"]])
        arrays[f"{split}_image_idxs"] = d["image_idxs"]
        (tmp / f"{split}2014_urls.txt").write_text("\n".join(d["urls"]) + "\n")
    _write_h5(tmp / "coco2014_captions.h5", arrays)

    net = FeatureNet(seed)
    summ = {split: net.summaries(split_data[split]["images"]) for split in ("train", "val")}
    net.fit(summ["train"])
    feats = {split: net.features(summ[split]) for split in ("train", "val")}
    mean, comps = fit_pca(feats["train"])
    for split in ("train", "val"):
        _write_h5(tmp / f"{split}2014_vgg16_fc7.h5", {"features": feats[split]})
        pca = _quantise((feats[split].astype(np.float64) - mean) @ comps)
        _write_h5(tmp / f"{split}2014_vgg16_fc7_pca.h5", {"features": pca})

    stats = {"train_images": n_train, "val_images": n_val,
             "train_captions": len(arrays["train_captions"]), "val_captions": len(arrays["val_captions"]),
             "vocab_size": len(idx_to_word), "render_seconds": round(t_render, 2),
             "total_seconds": round(time.perf_counter() - t0, 2)}
    manifest = dict(_manifest(n_train, n_val, seed), stats={k: v for k, v in stats.items()
                                                            if not k.endswith("seconds")})
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return stats


def generate_offline_coco(dest=None, n_train: int = N_TRAIN_IMAGES, n_val: int = N_VAL_IMAGES,
                          seed: int = SEED, verbose: bool = True) -> Path:
    """Generate the offline captioning set into folder ``dest`` and return its path.

    ``dest`` defaults to ``data_root()/coco_offline``. The set is built in a temporary
    sibling folder and renamed to ``dest`` when complete; an existing ``dest`` is
    replaced. If another process finished the same set first, its copy is kept.
    """
    dest = Path(dest) if dest is not None else offline_coco_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        stats = _build(tmp, n_train, n_val, seed, verbose)
        _install(tmp, dest, _manifest(n_train, n_val, seed))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        print(f"Generated the offline captioning set in {dest} ({stats['train_images']} train / "
              f"{stats['val_images']} val images, {stats['train_captions']} / {stats['val_captions']} "
              f"captions, {stats['vocab_size']} words) in {stats['total_seconds']:.1f} s.")
    return dest


def _same_set(manifest, expected) -> bool:
    return manifest is not None and all(manifest.get(k) == v for k, v in expected.items())


def _install(tmp: Path, dest: Path, expected: dict) -> None:
    """Move the finished folder ``tmp`` to ``dest`` atomically (rename), safe under races."""
    for _ in range(5):
        try:
            os.rename(tmp, dest)  # fails if dest exists and is not empty
            return
        except OSError:
            if not dest.exists():
                continue
        if _same_set(read_manifest(dest), expected):
            return  # an identical set is already there (generation is deterministic)
        aside = dest.parent / f".{dest.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(dest, aside)
        except FileNotFoundError:
            continue
        shutil.rmtree(aside, ignore_errors=True)
    raise OSError(f"could not move the generated set into place at {dest}")


def ensure_offline_coco(dest=None) -> Path:
    """Path of the offline set, generating it first if it is missing or outdated."""
    dest = Path(dest) if dest is not None else offline_coco_dir()
    manifest = read_manifest(dest)
    if _same_set(manifest, _manifest(N_TRAIN_IMAGES, N_VAL_IMAGES, SEED)):
        return dest
    why = "is missing" if manifest is None else "is from another generator version"
    print(f"The offline captioning set {why}: generating it in {dest} (once; this can take a minute).")
    return generate_offline_coco(dest, N_TRAIN_IMAGES, N_VAL_IMAGES, SEED)
