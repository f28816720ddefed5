"""Named downloads of the course data, resumable and validated.

Usage (command line; everything is printed on stdout)::

    python -m dlcourse.download --list                 # what can be fetched, and what is here
    python -m dlcourse.download coco_captioning        # fetch into the data root
    python -m dlcourse.download style_images --dest D  # fetch into folder D instead
    python -m dlcourse.download --offline coco_captioning   # build the offline stand-in

or from Python: ``fetch("coco_captioning") -> Path``.

How a download works (:func:`download_file`): bytes go to ``<file>.part``; an interrupted
transfer resumes from there with an HTTP ``Range`` request (if the server ignores it, the
file restarts cleanly from zero); the size is checked against the server's length and,
when the registry knows it, the SHA-256. A finished file is validated *before* it is
used: archives are extracted into a temporary folder that is renamed into place only
after its structure checks out. A corrupt or wrong file raises :class:`DownloadError`
and is moved aside as ``<file>.corrupt``, never used.

The data root is ``$DLCOURSE_DATA`` or ``~/.dlcourse/data`` (:mod:`dlcourse.data.paths`).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dlcourse.data.paths import data_root

USER_AGENT = "dlcourse/0.1 (deep-learning course data downloader; python-urllib)"
CHUNK = 1 << 16  # bytes read at a time
RETRIES = 3  # extra attempts after a dropped connection, each resuming where it stopped


class DownloadError(RuntimeError):
    """A download failed or produced a file that does not validate."""


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: where from, under which name, and its checksum if known."""

    url: str
    filename: str
    sha256: str | None = None  # verified when given
    credit: str = ""  # author, title and licence, for files that need one


@dataclass(frozen=True)
class Dataset:
    """A named download.

    ``kind`` is ``"archive"`` (one zip, extracted to the folder ``target``), ``"file"``
    (one file saved as ``target``) or ``"files"`` (several files saved in the folder
    ``target``). ``validate(path)`` raises DownloadError when a downloaded file (for
    ``file``/``files``) or an extracted folder (for ``archive``) is not right.
    """

    name: str
    description: str
    kind: str
    target: str  # relative to the data root (or to --dest)
    files: tuple
    validate: Callable[[Path], None]


# ------------------------------------------------------------------------------------
# Validators
# ------------------------------------------------------------------------------------

def validate_coco_folder(folder: Path) -> None:
    """The eight COCO captioning files with consistent shapes (see find_coco_problems)."""
    from dlcourse.data.coco import find_coco_problems

    problems = find_coco_problems(folder)
    if problems:
        raise DownloadError("not a valid COCO captioning folder: " + "; ".join(problems))


def validate_imagenet_val(path: Path) -> None:
    """An .npz with X (25, 224, 224, 3) uint8, y (25,) and label_map."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=True) as npz:
            keys = set(npz.files)
            missing = {"X", "y", "label_map"} - keys
            if missing:
                raise DownloadError(f"{path.name} lacks the key(s) {sorted(missing)}")
            X, y = npz["X"], npz["y"]
            npz["label_map"]
    except DownloadError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure to read means a bad file
        raise DownloadError(f"{path.name} is not a readable .npz file ({exc})") from exc
    if X.shape != (25, 224, 224, 3) or X.dtype != np.uint8:
        raise DownloadError(f"{path.name}: X has shape {X.shape} and dtype {X.dtype}, "
                            "expected (25, 224, 224, 3) uint8")
    if y.shape != (25,):
        raise DownloadError(f"{path.name}: y has shape {y.shape}, expected (25,)")


def validate_cola_folder(folder: Path) -> None:
    """CoLA's raw/in_domain_train.tsv and raw/in_domain_dev.tsv, four columns, labels 0/1."""
    from dlcourse.data.cola import find_cola_problems

    problems = find_cola_problems(folder)
    if problems:
        raise DownloadError("not a valid CoLA folder: " + "; ".join(problems))


def validate_image(path: Path) -> None:
    """A decodable image of at least 32x32 pixels."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            size = img.size
    except Exception as exc:  # noqa: BLE001
        raise DownloadError(f"{path.name} is not a decodable image ({exc})") from exc
    if min(size) < 32:
        raise DownloadError(f"{path.name} is only {size[0]}x{size[1]} pixels")


# ------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------

_WIKI = "https://upload.wikimedia.org/wikipedia/commons"

DATASETS = {
    d.name: d
    for d in [
        Dataset(
            name="coco_captioning",
            description="COCO 2014 captions with VGG-16 fc7 features (and PCA-512), ~1 GB zip",
            kind="archive",
            target="coco_captioning",
            files=(RemoteFile("http://cs231n.stanford.edu/coco_captioning.zip", "coco_captioning.zip"),),
            validate=validate_coco_folder,
        ),
        Dataset(
            name="imagenet_val_25",
            description="25 ImageNet validation images (224x224) with labels and class names",
            kind="file",
            target="imagenet_val_25.npz",
            files=(RemoteFile("http://cs231n.stanford.edu/imagenet_val_25.npz", "imagenet_val_25.npz"),),
            validate=validate_imagenet_val,
        ),
        Dataset(
            name="cola",
            description="Corpus of Linguistic Acceptability v1.1 (8,551 training, 527 in-domain validation sentences), zip",
            kind="archive",
            target="cola_public",
            files=(RemoteFile("https://nyu-mll.github.io/CoLA/cola_public_1.1.zip", "cola_public_1.1.zip"),),
            validate=validate_cola_folder,
        ),
        Dataset(
            name="style_images",
            description="style and content images for style transfer (Wikimedia Commons)",
            kind="files",
            target="styles",
            files=(
                RemoteFile(f"{_WIKI}/thumb/e/ea/Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
                           "1280px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg", "starry_night.jpg",
                           credit="Vincent van Gogh, The Starry Night (1889), public domain"),
                RemoteFile(f"{_WIKI}/f/f4/The_Scream.jpg", "the_scream.jpg",
                           credit="Edvard Munch, The Scream (1893), public domain"),
                RemoteFile(f"{_WIKI}/b/b4/Vassily_Kandinsky%2C_1913_-_Composition_7.jpg", "composition_vii.jpg",
                           credit="Wassily Kandinsky, Composition VII (1913), public domain"),
                RemoteFile(f"{_WIKI}/thumb/0/00/Tuebingen_Neckarfront.jpg/640px-Tuebingen_Neckarfront.jpg",
                           "tubingen.jpg",
                           credit="Andreas Praefcke, Tübingen Neckarfront (photo), CC BY 3.0"),
            ),
            validate=validate_image,
        ),
    ]
}


# ------------------------------------------------------------------------------------
# Downloading one file
# ------------------------------------------------------------------------------------

def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class _Progress:
    """A plain-text progress bar on stdout (no dependencies), redrawn at most 10 times/s."""

    def __init__(self, label: str, total: int | None, start: int = 0):
        self.label, self.total, self.done = label, total, start
        self.t0, self.last, self.start = time.monotonic(), 0.0, start

    def update(self, n: int, final: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        speed = (self.done - self.start) / max(now - self.t0, 1e-6)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            text = f"{self.label} [{bar}] {100 * frac:5.1f}% {_mb(self.done)} / {_mb(self.total)}"
        else:
            text = f"{self.label} {_mb(self.done)}"
        sys.stdout.write(f"\r{text}  {speed / 1e6:.1f} MB/s ")
        if final:
            sys.stdout.write("\n")
        sys.stdout.flush()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _move_aside(path: Path) -> Path:
    """Rename a bad file to ``<name>.corrupt`` (replacing an older one) so it is never used."""
    bad = path.with_name(path.name.removesuffix(".part") + ".corrupt")
    os.replace(path, bad)
    return bad


def _content_range_start(value: str | None):
    """(start, total) of a ``Content-Range: bytes start-end/total`` header, or None."""
    try:
        unit, rest = value.split(" ", 1)
        span, total = rest.split("/", 1)
        return int(span.split("-", 1)[0]), (None if total.strip() == "*" else int(total))
    except (AttributeError, ValueError):
        return None


def download_file(url: str, dest, sha256: str | None = None, validate=None, retries: int = RETRIES,
                  timeout: float = 30, label: str | None = None) -> Path:
    """Download ``url`` to the file ``dest`` (resumable, verified, validated); return ``dest``.

    Bytes go to ``dest + '.part'``; an existing ``.part`` is resumed with a Range request;
    a dropped connection is retried (resuming) up to ``retries`` times. When ``sha256`` is
    given it must match, and ``validate(path)`` (raising DownloadError) must accept the
    file; otherwise the file is moved to ``dest + '.corrupt'`` and DownloadError raised.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    label = label or dest.name
    last_error = None
    complete = False
    for attempt in range(retries + 1):
        if attempt and last_error is not None:
            time.sleep(min(0.25 * 2 ** attempt, 5))  # brief back-off before retrying
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # our .part is not a prefix the server knows
                print(f"{label}: the server cannot resume the partial file; starting again")
                part.unlink()
                last_error = None
                continue
            if exc.code >= 500:
                last_error = exc
                continue
            raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:  # no network, refused, timeout
            last_error = exc
            continue
        with response:
            if offset and response.status == 206:
                span = _content_range_start(response.headers.get("Content-Range"))
                if span is None or span[0] != offset:
                    print(f"{label}: the server answered the resume request oddly; starting again")
                    part.unlink()
                    last_error = None
                    continue
                total, mode = span[1], "ab"
                print(f"{label}: resuming at {_mb(offset)}")
            else:
                if offset:
                    print(f"{label}: the server does not support resuming; starting again from zero")
                offset, mode = 0, "wb"
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
            progress = _Progress(label, total, offset)
            last_error = None
            try:
                with open(part, mode) as fh:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        fh.write(block)
                        progress.update(len(block))
            except (OSError, ValueError, urllib.error.URLError) as exc:  # IncompleteRead, resets, timeouts
                last_error = exc
            progress.update(0, final=True)
        size = part.stat().st_size
        if total is not None and size > total:
            bad = _move_aside(part)
            raise DownloadError(f"{url}: received {size} bytes but expected {total}; moved to {bad}")
        if (total is not None and size < total) or (total is None and last_error is not None):
            last_error = last_error or DownloadError(f"only {size} of {total} bytes arrived")
            print(f"{label}: connection lost after {_mb(size)}; resuming")
            continue
        complete = True
        break
    if not complete:
        raise DownloadError(f"cannot download {url} after {retries + 1} attempts (last error: {last_error}); "
                            "a partial file is kept and resumed next time" if part.exists() else
                            f"cannot download {url} after {retries + 1} attempts (last error: {last_error})")
    if sha256 is not None:
        digest = _sha256(part)
        if digest != sha256.lower():
            bad = _move_aside(part)
            raise DownloadError(f"{url}: SHA-256 mismatch (got {digest}, expected {sha256}); "
                                f"the file was moved to {bad} and not used")
    if validate is not None:
        try:
            validate(part)
        except DownloadError as exc:
            bad = _move_aside(part)
            raise DownloadError(f"{exc} (downloaded from {url}; moved to {bad}, not used)") from exc
    os.replace(part, dest)
    return dest


# ------------------------------------------------------------------------------------
# Fetching a named dataset
# ------------------------------------------------------------------------------------

def _is_valid(dataset: Dataset, target: Path) -> bool:
    try:
        if dataset.kind == "files":
            if not target.is_dir():
                return False
            for f in dataset.files:
                dataset.validate(target / f.filename)
        elif dataset.kind == "archive":
            if not target.is_dir():
                return False
            dataset.validate(target)
        else:
            if not target.is_file():
                return False
            dataset.validate(target)
    except DownloadError:
        return False
    return True


def _urls(dataset: Dataset, url) -> list:
    """The URL of each file, honouring an override (a str, a base ending in '/', or a dict)."""
    out = []
    for f in dataset.files:
        if url is None:
            out.append(f.url)
        elif isinstance(url, dict):
            out.append(url.get(f.filename, f.url))
        elif url.endswith("/"):
            out.append(url + f.filename)
        elif len(dataset.files) == 1:
            out.append(url)
        else:
            raise ValueError(f"{dataset.name} has {len(dataset.files)} files: give url as a dict "
                             "{filename: url} or a base URL ending in '/'")
    return out


def _safe_members(zf: zipfile.ZipFile) -> list:
    names = zf.namelist()
    for name in names:
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise DownloadError(f"the archive contains an unsafe path: {name}")
    return names


def _install_folder(src: Path, target: Path) -> None:
    """Rename ``src`` to ``target``, replacing an existing ``target`` (old copy removed)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    os.rename(src, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fetch_archive(dataset: Dataset, root: Path, url: str, remote: RemoteFile, keep_archive: bool) -> Path:
    target = root / dataset.target
    archive = download_file(url, root / remote.filename, remote.sha256, label=dataset.name)
    tmp = root / f".{dataset.target}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                bad_member = zf.testzip()  # CRC of every member
                if bad_member is not None:
                    raise DownloadError(f"{archive.name}: member {bad_member} is corrupt")
                names = _safe_members(zf)
                print(f"{dataset.name}: extracting {len(names)} entries")
                zf.extractall(tmp)
            # The archive may hold the files at its top level or in one folder.
            folder = tmp
            if not any(p.is_file() for p in tmp.iterdir()):
                subdirs = [p for p in tmp.iterdir() if p.is_dir()]
                if len(subdirs) == 1:
                    folder = subdirs[0]
            dataset.validate(folder)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, DownloadError) as exc:
            bad = _move_aside(archive)
            reason = exc if isinstance(exc, DownloadError) else f"not a valid zip archive ({exc})"
            raise DownloadError(f"{dataset.name}: {reason}; the archive was moved to {bad} and not used") from exc
        _install_folder(folder, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return target


def fetch(name: str, dest=None, force: bool = False, url=None, keep_archive: bool = False) -> Path:
    """Download the dataset ``name`` (see DATASETS) unless a valid copy is there; return its path.

    Inputs:
    - name: a key of DATASETS
    - dest: folder to put it in (default: the data root)
    - force: download again even if a valid copy exists
    - url: override of the source (tests, mirrors): a URL for one-file datasets, a base URL
      ending in '/' (file names appended) or a dict {filename: url}
    - keep_archive: keep the downloaded zip after extraction (archives only)

    Raises DownloadError when the download fails or does not validate; nothing invalid is
    ever left in place of the dataset.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    root = Path(dest) if dest is not None else data_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / dataset.target
    if not force and _is_valid(dataset, target):
        print(f"{name}: already present in {target}")
        return target
    if target.exists() and not force:
        print(f"{name}: the copy in {target} is incomplete or invalid; downloading again")
    urls = _urls(dataset, url)
    if dataset.kind == "archive":
        path = _fetch_archive(dataset, root, urls[0], dataset.files[0], keep_archive)
    elif dataset.kind == "file":
        path = download_file(urls[0], target, dataset.files[0].sha256, dataset.validate, label=name)
    else:
        target.mkdir(parents=True, exist_ok=True)
        for remote, u in zip(dataset.files, urls):
            file_path = target / remote.filename
            if not force and file_path.exists():
                try:
                    dataset.validate(file_path)
                    continue
                except DownloadError:
                    pass
            download_file(u, file_path, remote.sha256, dataset.validate, label=f"{name}/{remote.filename}")
        path = target
    print(f"{name}: ready in {path}")
    return path


# ------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------

class _StdoutParser(argparse.ArgumentParser):
    """argparse that prints its errors on stdout (notebook graders treat stderr as failure)."""

    def error(self, message):
        self.print_usage(sys.stdout)
        print(f"error: {message}")
        raise SystemExit(2)


def _list(root: Path) -> None:
    print(f"Data root: {root}")
    for d in DATASETS.values():
        state = "present" if _is_valid(d, root / d.target) else "missing"
        print(f"  {d.name:<16} {state:<8} -> {root / d.target}\n  {'':<16} {d.description}")
        for f in d.files:
            if f.credit:
                print(f"  {'':<16}   {f.filename}: {f.credit}")
    print("Offline stand-ins: `python -m dlcourse.download --offline coco_captioning cola` builds the "
          "generated captioning set in coco_offline/ and the generated acceptability corpus in cola_offline/.")


def _mnist(dest: Path) -> Path:
    from dlcourse.data.mnist import download_mnist

    return download_mnist(dest)


def _cifar10(dest: Path) -> Path:
    from torchvision import datasets

    datasets.CIFAR10(dest, train=True, download=True)  # torchvision checks the archive's MD5
    datasets.CIFAR10(dest, train=False, download=True)
    return dest


# Datasets that torchvision fetches and checks itself (name -> fetch(dest) -> Path).
TORCHVISION_DATASETS = {"mnist": _mnist, "cifar10": _cifar10}


def main(argv=None) -> int:
    parser = _StdoutParser(prog="python -m dlcourse.download",
                           description="Fetch the course datasets (resumable, validated).")
    parser.add_argument("names", nargs="*", help="dataset names (see --list)")
    parser.add_argument("--list", action="store_true", help="list the datasets and whether they are here")
    parser.add_argument("--dest", help="folder to put the data in (default: $DLCOURSE_DATA or ~/.dlcourse/data)")
    parser.add_argument("--force", action="store_true", help="download again even if a valid copy exists")
    parser.add_argument("--url", help="download from this URL instead (one-file datasets, or a base URL ending in /)")
    parser.add_argument("--offline", action="store_true",
                        help="build the offline stand-in instead of downloading (coco_captioning, cola, cifar10)")
    args = parser.parse_args(argv)
    root = Path(args.dest) if args.dest else data_root()
    if args.list:
        _list(root)
        return 0
    if not args.names:
        parser.print_help(sys.stdout)
        return 2
    unknown = [n for n in args.names if n not in DATASETS and n not in TORCHVISION_DATASETS]
    if unknown:
        known = ", ".join([*DATASETS, *TORCHVISION_DATASETS])
        print(f"error: unknown dataset(s) {', '.join(unknown)}; known: {known}")
        return 2
    status = 0
    for name in args.names:
        if name in TORCHVISION_DATASETS and not args.offline:
            try:
                TORCHVISION_DATASETS[name](root / name)
                print(f"{name}: ready in {root / name}")
            except Exception as exc:  # noqa: BLE001 -- URLError offline, RuntimeError on a bad file
                print(f"error: {exc}; offline, its loader falls back to bundled data")
                status = 1
            continue
        if args.offline:
            if name == "coco_captioning":
                from dlcourse.data.offline_coco import generate_offline_coco

                generate_offline_coco(root / "coco_offline")
            elif name == "cifar10":
                from dlcourse.data.cifar import make_offline_cifar10

                print(f"cifar10: generated stand-in in {make_offline_cifar10(root / 'cifar10_offline')}")
            elif name == "cola":
                from dlcourse.data.cola import make_offline_cola

                print(f"cola: generated corpus in {make_offline_cola(root / 'cola_offline')}")
            else:
                print(f"{name}: no generated stand-in; offline, its loader falls back to bundled data")
            continue
        try:
            fetch(name, dest=root, force=args.force, url=args.url)
        except DownloadError as exc:
            print(f"error: {exc}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
