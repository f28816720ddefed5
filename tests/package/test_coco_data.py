"""Tests of the captioning data layer: data root, offline set generator, loader, decoding.

Small offline sets (a few hundred images) are generated into tmp folders; the full-size
set is only built by the slow test. No test touches the real home folder.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlcourse.data import (END, NULL, START, UNK, decode_captions, load_coco_data,
                           sample_coco_minibatch)
from dlcourse.data import coco, offline_coco, paths
from dlcourse.data.coco import EXPECTED_FILES, find_coco_problems
from dlcourse.images import image_from_url

COLOUR_WORDS = list(offline_coco.COLOURS)


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path, monkeypatch):
    """Every test gets its own data root, never ~/.dlcourse."""
    root = tmp_path / "data_root"
    monkeypatch.setenv("DLCOURSE_DATA", str(root))
    return root


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """300 train / 100 val images: big enough to learn colours from, quick to make."""
    return offline_coco.generate_offline_coco(tmp_path_factory.mktemp("small") / "coco_offline",
                                              n_train=300, n_val=100, verbose=False)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return offline_coco.generate_offline_coco(tmp_path_factory.mktemp("tiny") / "coco_offline",
                                              n_train=20, n_val=8, verbose=False)


def _tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def first_word_in(captions, idx_to_word, words):
    """Per caption row: the first word from ``words`` it contains (None if none)."""
    out = []
    for row in captions:
        hit = None
        for t in row:
            w = idx_to_word[t]
            if w in words:
                hit = w
                break
        out.append(hit)
    return out


def ridge_first_word_accuracy(data, words, lam=1.0):
    """Predict each val caption's first word from ``words`` with a ridge classifier on the
    (standardised) features of its image; return (accuracy, majority-baseline accuracy)."""
    itw = data["idx_to_word"]
    ytr = first_word_in(data["train_captions"], itw, words)
    yva = first_word_in(data["val_captions"], itw, words)
    rtr = [i for i, y in zip(data["train_image_idxs"], ytr) if y]
    rva = [i for i, y in zip(data["val_image_idxs"], yva) if y]
    ytr = np.array([y for y in ytr if y])
    yva = np.array([y for y in yva if y])
    mu = data["train_features"].mean(0)
    sd = data["train_features"].std(0) + 1e-6
    A = np.hstack([(data["train_features"][rtr] - mu) / sd, np.ones((len(rtr), 1))])
    B = np.hstack([(data["val_features"][rva] - mu) / sd, np.ones((len(rva), 1))])
    classes = np.array(sorted(set(ytr)))
    Y = (ytr[:, None] == classes[None]).astype(float)
    W = np.linalg.solve(A.T @ A + lam * len(A) * np.eye(A.shape[1]), A.T @ Y)
    pred = classes[(B @ W).argmax(1)]
    majority = classes[Y.sum(0).argmax()]
    return float(np.mean(pred == yva)), float(np.mean(yva == majority))


# ------------------------------------------------------------------------------------
# Data root
# ------------------------------------------------------------------------------------

def test_data_root_follows_env_var_else_home(tmp_path, monkeypatch):
    """Is the data root $DLCOURSE_DATA when set, and ~/.dlcourse/data otherwise?"""
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "x"))
    assert paths.data_root() == tmp_path / "x"
    assert paths.coco_dir() == tmp_path / "x" / "coco_captioning"
    assert paths.offline_coco_dir() == tmp_path / "x" / "coco_offline"
    monkeypatch.delenv("DLCOURSE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.data_root() == tmp_path / "home" / ".dlcourse" / "data"


# ------------------------------------------------------------------------------------
# The generated set
# ------------------------------------------------------------------------------------

def test_offline_set_has_the_real_archive_layout(small_set):
    """Does the generated folder hold the eight COCO files with the real datasets and shapes?"""
    for name in EXPECTED_FILES:
        assert (small_set / name).is_file(), name
    assert find_coco_problems(small_set) == []
    with h5py.File(small_set / "coco2014_captions.h5") as f:
        assert sorted(f.keys()) == ["train_captions", "train_image_idxs", "val_captions", "val_image_idxs"]
        assert f["train_captions"].shape == (1500, 17) and f["val_captions"].shape == (500, 17)
    for split, n in [("train", 300), ("val", 100)]:
        with h5py.File(small_set / f"{split}2014_vgg16_fc7.h5") as f:
            assert list(f.keys()) == ["features"]
            assert f["features"].shape == (n, 4096) and f["features"].dtype == np.float32
        with h5py.File(small_set / f"{split}2014_vgg16_fc7_pca.h5") as f:
            assert f["features"].shape == (n, 512) and f["features"].dtype == np.float32
        urls = (small_set / f"{split}2014_urls.txt").read_text().split()
        assert urls[17] == f"images/{split}/000017.png"
        assert len(list((small_set / "images" / split).glob("*.png"))) == n
    vocab = json.loads((small_set / "coco2014_vocab.json").read_text())
    assert vocab["idx_to_word"][:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    assert all(vocab["word_to_idx"][w] == i for i, w in enumerate(vocab["idx_to_word"]))


def test_generation_is_byte_identical_across_runs(tmp_path, tiny_set):
    """Does a second run with the same seed write exactly the same bytes?"""
    again = offline_coco.generate_offline_coco(tmp_path / "again", n_train=20, n_val=8, verbose=False)
    assert _tree_digest(again) == _tree_digest(tiny_set)
    other_seed = offline_coco.generate_offline_coco(tmp_path / "other", n_train=20, n_val=8, seed=5,
                                                    verbose=False)
    assert _tree_digest(other_seed) != _tree_digest(tiny_set)


def test_validation_images_are_new_scenes(small_set):
    """Are the validation images different pictures, not copies of training images?"""
    def pixel_hashes(split):
        return {hashlib.sha256(image_from_url(str(p)).tobytes()).hexdigest()
                for p in sorted((small_set / "images" / split).glob("*.png"))}
    train, val = pixel_hashes("train"), pixel_hashes("val")
    assert len(val) == 100 and not (train & val)


def test_captions_name_colours_that_are_drawn(small_set, capsys):
    """Does every colour word of a caption appear as pixels of that colour in its image?"""
    data = load_coco_data(small_set)
    itw = data["idx_to_word"]
    checked = 0
    for row, idx in zip(data["val_captions"][:200], data["val_image_idxs"][:200]):
        words = decode_captions(row, itw).split()
        assert words[0] == "<START>" and words[-1] == "<END>" and len(words) <= 17
        img = image_from_url(data["val_urls"][idx]).astype(int)
        for w, following in zip(words, words[1:]):
            if w not in COLOUR_WORDS or w in ("white", "black") or following in ("grass", "background"):
                continue  # white/black are also background shades; "green grass" is the background
            dist = np.abs(img - np.array(offline_coco.COLOURS[w])).sum(-1)
            assert (dist < 40).sum() >= 15, (words, w)
            checked += 1
    assert checked > 100


def test_captions_are_short_and_padded(small_set):
    """At most 15 words between <START> and <END>, then <NULL> padding only."""
    with h5py.File(small_set / "coco2014_captions.h5") as f:
        caps = np.asarray(f["train_captions"])
    assert caps.dtype == np.int32 and (caps[:, 0] == START).all()
    for row in caps:
        end = int(np.flatnonzero(row == END)[0])
        assert 2 <= end <= 16 and (row[end + 1:] == NULL).all() and (row[1:end] > END).all()


def test_rare_words_become_unk():
    """Are words seen fewer than MIN_WORD_COUNT times left out of the vocabulary?"""
    idx_to_word, word_to_idx = offline_coco.build_vocab([["a", "red", "dot"], ["a", "red", "box"],
                                                         ["a", "red", "dot"]], min_count=2)
    assert idx_to_word == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "red", "dot"]
    row = offline_coco.encode(["a", "red", "box"], word_to_idx)
    assert row.tolist()[:6] == [START, 4, 5, UNK, END, NULL] and row.shape == (17,)


def test_features_are_a_function_of_the_pixels(tiny_set):
    """Are features reproducible from the images alone (given the fitted statistics)?"""
    from PIL import Image

    def images(split):
        return np.stack([np.asarray(Image.open(p)) for p in sorted((tiny_set / "images" / split).glob("*.png"))])
    net = offline_coco.FeatureNet()
    net.fit(net.summaries(images("train")))
    with h5py.File(tiny_set / "val2014_vgg16_fc7.h5") as f:
        stored = np.asarray(f["features"])
    val = images("val")
    assert np.abs(net.features(net.summaries(val)) - stored).max() <= 2 ** -12
    # one image alone gives the same features as inside a batch
    assert np.abs(net.features(net.summaries(val[3:4])) - stored[3:4]).max() <= 2 ** -12
    assert (stored >= 0).all() and stored.std() > 0


def test_a_simple_model_learns_colours_from_features(small_set, capsys):
    """Do PCA features predict the first colour word of unseen validation captions far above
    the majority baseline (ridge classifier fitted on 300 training images)?"""
    data = load_coco_data(small_set)
    acc, baseline = ridge_first_word_accuracy(data, set(COLOUR_WORDS))
    print(f"colour word: val accuracy {acc:.2f}, majority baseline {baseline:.2f}")
    assert baseline < 0.25
    assert acc > 0.45 and acc > 2.5 * baseline


# ------------------------------------------------------------------------------------
# Loader
# ------------------------------------------------------------------------------------

def test_load_coco_data_returns_the_course_dict(small_set, capsys):
    """Are the keys, dtypes and shapes those of COURSE.md section 1?"""
    data = load_coco_data(small_set)
    assert set(data) == {"train_captions", "train_image_idxs", "val_captions", "val_image_idxs",
                         "train_features", "val_features", "idx_to_word", "word_to_idx",
                         "train_urls", "val_urls"}
    assert data["train_captions"].dtype == np.int32 and data["train_captions"].shape == (1500, 17)
    assert data["train_image_idxs"].shape == (1500,) and data["train_image_idxs"].max() < 300
    assert data["train_features"].dtype == np.float32 and data["train_features"].shape == (300, 512)
    assert data["val_features"].shape == (100, 512)
    assert isinstance(data["idx_to_word"], list) and isinstance(data["word_to_idx"], dict)
    assert data["train_urls"].shape == (300,) and data["train_urls"].dtype.kind == "U"
    url = data["train_urls"][5]
    assert url.startswith("file://") and url.endswith("images/train/000005.png")
    assert image_from_url(url).shape == (96, 96, 3)
    assert load_coco_data(small_set, pca_features=False)["val_features"].shape == (100, 4096)
    assert capsys.readouterr().err == ""


def test_max_train_subsamples_without_replacement_with_the_global_rng(small_set):
    """Does max_train draw distinct rows with np.random.choice, so np.random.seed fixes them?"""
    full = load_coco_data(small_set)
    np.random.seed(7)
    sub = load_coco_data(small_set, max_train=50)
    np.random.seed(7)
    rows = np.random.choice(1500, size=50, replace=False)
    assert sub["train_captions"].shape == (50, 17)
    np.testing.assert_array_equal(sub["train_captions"], full["train_captions"][rows])
    np.testing.assert_array_equal(sub["train_image_idxs"], full["train_image_idxs"][rows])
    assert len(set(rows.tolist())) == 50
    assert sub["train_features"].shape == full["train_features"].shape  # features are not cut
    np.random.seed(8)
    assert not np.array_equal(load_coco_data(small_set, max_train=50)["train_captions"], sub["train_captions"])


def test_sample_coco_minibatch_matches_captions_to_their_images(small_set):
    data = load_coco_data(small_set)
    np.random.seed(0)
    caps, feats, urls = sample_coco_minibatch(data, batch_size=10, split="val")
    np.random.seed(0)
    rows = np.random.choice(500, 10)
    np.testing.assert_array_equal(caps, data["val_captions"][rows])
    idx = data["val_image_idxs"][rows]
    np.testing.assert_array_equal(feats, data["val_features"][idx])
    assert list(urls) == list(data["val_urls"][idx])
    assert caps.shape == (10, 17) and feats.shape == (10, 512) and feats.dtype == np.float32
    with pytest.raises(ValueError):
        sample_coco_minibatch(data, split="test")


def test_decode_captions_keeps_start_end_drops_null_and_stops_after_end():
    itw = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat"]
    one = np.array([1, 4, 5, 2, 4, 0, 0])
    assert decode_captions(one, itw) == "<START> a cat <END>"
    two = np.array([[1, 4, 0, 5, 2, 5], [4, 3, 2, 0, 0, 0]])
    assert decode_captions(two, itw) == ["<START> a cat <END>", "a <UNK> <END>"]
    assert decode_captions(np.array([1, 4, 5]), itw) == "<START> a cat"  # no <END>: all words


def test_find_coco_problems_spots_broken_folders(tmp_path, tiny_set):
    """Does the structural check catch wrong widths, stray indices, missing files?"""
    def broken(name):
        folder = tmp_path / name
        shutil.copytree(tiny_set, folder)
        return folder
    f1 = broken("width")
    with h5py.File(f1 / "train2014_vgg16_fc7_pca.h5", "w") as f:
        f.create_dataset("features", data=np.zeros((20, 100), np.float32))
    assert any("expected (N, 512)" in p for p in find_coco_problems(f1))
    f2 = broken("idx")
    with h5py.File(f2 / "coco2014_captions.h5", "a") as f:
        idx = np.asarray(f["val_image_idxs"])
        idx[0] = 999
        f["val_image_idxs"][...] = idx
    assert any("outside" in p for p in find_coco_problems(f2))
    f3 = broken("missing")
    (f3 / "coco2014_vocab.json").unlink()
    assert "coco2014_vocab.json" in find_coco_problems(f3)[0]
    f4 = broken("caplen")
    with h5py.File(f4 / "coco2014_captions.h5", "a") as f:
        del f["train_captions"]
        f.create_dataset("train_captions", data=np.zeros((100, 12), np.int32))
    assert any("(N, 17)" in p for p in find_coco_problems(f4))
    with pytest.raises(FileNotFoundError):
        load_coco_data(f3)


def test_default_uses_real_coco_when_valid_else_offline(isolated_data_root, tiny_set, monkeypatch, capsys):
    """Is a valid real archive preferred, and is an invalid one skipped with a reason?"""
    real = isolated_data_root / "coco_captioning"
    shutil.copytree(tiny_set, real, ignore=shutil.ignore_patterns("images", "*.json"))
    shutil.copy(tiny_set / "coco2014_vocab.json", real)
    data = load_coco_data()
    out = capsys.readouterr()
    assert "Using the real COCO" in out.out and out.err == ""
    assert data["train_features"].shape == (20, 512)
    (real / "val2014_vgg16_fc7.h5").unlink()
    monkeypatch.setattr(offline_coco, "ensure_offline_coco", lambda dest=None: tiny_set)
    load_coco_data()
    out = capsys.readouterr().out
    assert "Using the offline captioning set" in out and "incomplete" in out


def test_ensure_offline_coco_generates_once(isolated_data_root, monkeypatch, capsys):
    """First use generates the set (saying so); later uses reuse it without regenerating."""
    monkeypatch.setattr(offline_coco, "N_TRAIN_IMAGES", 20)
    monkeypatch.setattr(offline_coco, "N_VAL_IMAGES", 8)
    path = offline_coco.ensure_offline_coco()
    assert path == isolated_data_root / "coco_offline"
    assert "generating" in capsys.readouterr().out
    stamp = (path / "coco2014_captions.h5").stat().st_mtime_ns
    assert offline_coco.ensure_offline_coco() == path
    assert capsys.readouterr().out == ""
    assert (path / "coco2014_captions.h5").stat().st_mtime_ns == stamp
    monkeypatch.setattr(offline_coco, "N_TRAIN_IMAGES", 24)  # another configuration: rebuilt
    offline_coco.ensure_offline_coco()
    assert "generating" in capsys.readouterr().out
    assert load_coco_data(path)["train_features"].shape == (24, 512)
    assert not [p for p in isolated_data_root.iterdir() if p.name.startswith(".")]


def test_two_processes_generating_at_once_leave_one_complete_set(tmp_path):
    """Is concurrent generation into the same folder safe (temp folder + atomic rename)?"""
    dest = tmp_path / "coco_offline"
    code = ("import sys; from dlcourse.data.offline_coco import generate_offline_coco as g; "
            f"g(sys.argv[1], n_train=20, n_val=8, verbose=False)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert find_coco_problems(dest) == []
    assert offline_coco.read_manifest(dest)["n_train_images"] == 20
    assert [p.name for p in tmp_path.iterdir()] == ["coco_offline"]  # no temp folders left


# ------------------------------------------------------------------------------------
# Slow: the full-size set
# ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_full_offline_set_size_speed_and_learnability(isolated_data_root, capsys):
    """The default set: ~2000/400 images, ~5 captions each, generated quickly; a ridge
    classifier on its PCA features predicts the first colour and shape words of unseen
    validation captions far above the majority baseline."""
    t0 = time.process_time()
    path = offline_coco.ensure_offline_coco()
    cpu = time.process_time() - t0
    data = load_coco_data()
    assert data["train_features"].shape == (2000, 512) and data["val_features"].shape == (400, 512)
    assert data["train_captions"].shape == (10000, 17) and data["val_captions"].shape == (2000, 17)
    assert 60 <= len(data["idx_to_word"]) <= 300
    colour_acc, colour_base = ridge_first_word_accuracy(data, set(COLOUR_WORDS))
    shape_words = {w for words in offline_coco.SHAPE_WORDS.values() for w in words}
    shape_acc, shape_base = ridge_first_word_accuracy(data, shape_words)
    with capsys.disabled():
        print(f"\noffline set at {path}: CPU {cpu:.1f} s; vocabulary {len(data['idx_to_word'])}; "
              f"colour {colour_acc:.2f} (baseline {colour_base:.2f}); "
              f"shape noun {shape_acc:.2f} (baseline {shape_base:.2f})")
    assert cpu < 40
    assert colour_acc > 0.55 and colour_acc > 4 * colour_base
    assert shape_acc > 0.4 and shape_acc > 1.8 * shape_base
