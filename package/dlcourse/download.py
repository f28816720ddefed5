"""Named downloads of the course data, on pooch: ``python -m dlcourse.download NAME`` fetches a dataset
(``--list``: what can be fetched, what is here and how it is checked; ``--offline NAME``: build its
stand-in; ``--pin [NAME]``: registry entries with the lock's hashes), ``fetch(NAME) -> Path`` from Python.
All output is on stdout; the data root is ``$DLCOURSE_DATA`` or ``~/.dlcourse/data``.

:data:`DATASETS` is the registry. pooch fetches (moving a file into place only when complete and matching
its known hash), retries, shows the progress bar and unzips. The course's own part: each file or
extracted folder is validated before use (an invalid one is moved aside as ``<name>.corrupt``), and a
file whose hash the registry lacks is held to its first valid download, whose size and SHA-256 are
recorded in the lock file ``downloads.lock.json`` beside the data (delete an entry to accept a change).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import logging
import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pooch
import requests

from dlcourse.data import cola, coco, offline_coco
from dlcourse.images import image_problems, imagenet_val_problems
from dlcourse.data.paths import data_root

USER_AGENT = "dlcourse/0.1 (deep-learning course data downloader; pooch)"
RETRIES = 2  # new attempts after a failed transfer or a hash mismatch (pooch waits 1 s, then 2 s)
TIMEOUT = 30  # seconds without data before a transfer fails


class DownloadError(RuntimeError):
    """A download failed or produced a file that does not validate."""


@dataclass(frozen=True)
class RemoteFile:
    url: str
    filename: str
    sha256: str | None = None  # when None, the lock file's record is used (see _expected)
    size: int | None = None  # bytes
    credit: str = ""  # author, title and licence, for files that need one


@dataclass(frozen=True)
class Dataset:
    """``kind``: "archive" (a zip extracted to the folder ``target``), "file" (saved as ``target``),
    "files" (saved in the folder ``target``) or "torchvision" (``get(folder)`` fetches it).
    ``validate(path)`` lists what is wrong with a file, or with an extracted folder ([]: nothing);
    ``offline(root)`` builds the stand-in and returns its folder."""

    name: str
    description: str
    kind: str
    target: str  # relative to the data root (or to --dest)
    files: tuple = ()
    validate: Callable[[Path], list] = lambda path: []
    offline: Callable[[Path], Path] | None = None
    get: Callable[[Path], Path] | None = None


_WIKI = "https://upload.wikimedia.org/wikipedia/commons"
_TV = "torchvision (checked against its own MD5 checksums)"
# The registry. A sha256 and size come only from the real file: paste the lines printed by
# `python -m dlcourse.download --pin` on a networked machine (none is pinned yet).
DATASETS = {d.name: d for d in [
    Dataset("coco_captioning", "COCO 2014 captions with VGG-16 fc7 features (and PCA-512), ~1 GB zip",
            "archive", "coco_captioning",
            (RemoteFile("http://cs231n.stanford.edu/coco_captioning.zip", "coco_captioning.zip"),),
            coco.find_coco_problems, lambda root: offline_coco.generate_offline_coco(root / "coco_offline")),
    Dataset("imagenet_val_25", "25 ImageNet validation images (224x224) with labels and class names",
            "file", "imagenet_val_25.npz",
            (RemoteFile("http://cs231n.stanford.edu/imagenet_val_25.npz", "imagenet_val_25.npz"),),
            imagenet_val_problems),
    Dataset("cola", "Corpus of Linguistic Acceptability v1.1 (8,551 training, 527 in-domain validation "
            "sentences), zip", "archive", "cola_public",
            (RemoteFile("https://nyu-mll.github.io/CoLA/cola_public_1.1.zip", "cola_public_1.1.zip"),),
            cola.find_cola_problems, lambda root: cola.make_offline_cola(root / "cola_offline")),
    Dataset("style_images", "style and content images for style transfer (Wikimedia Commons)", "files", "styles", (
        RemoteFile(f"{_WIKI}/thumb/e/ea/Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
                   "1280px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg", "starry_night.jpg",
                   credit="Vincent van Gogh, The Starry Night (1889), public domain"),
        RemoteFile(f"{_WIKI}/f/f4/The_Scream.jpg", "the_scream.jpg",
                   credit="Edvard Munch, The Scream (1893), public domain"),
        RemoteFile(f"{_WIKI}/b/b4/Vassily_Kandinsky%2C_1913_-_Composition_7.jpg", "composition_vii.jpg",
                   credit="Wassily Kandinsky, Composition VII (1913), public domain"),
        RemoteFile(f"{_WIKI}/thumb/0/00/Tuebingen_Neckarfront.jpg/640px-Tuebingen_Neckarfront.jpg",
                   "tubingen.jpg", credit="Andreas Praefcke, Tübingen Neckarfront (photo), CC BY 3.0"),
    ), image_problems),
    # torch loads slowly: these import it only when called
    Dataset("mnist", f"MNIST digits, by {_TV}", "torchvision", "mnist",
            get=lambda folder: importlib.import_module("dlcourse.data.mnist").download_mnist(folder)),
    Dataset("cifar10", f"CIFAR-10 images, by {_TV}", "torchvision", "cifar10", get=lambda folder: [
        importlib.import_module("torchvision.datasets").CIFAR10(folder, train=train, download=True)
        for train in (True, False)], offline=lambda root:
        importlib.import_module("dlcourse.data.cifar").make_offline_cifar10(root / "cifar10_offline")),
]}

# The lock file: {"<dataset>/<file name>": {"url", "size" (bytes), "sha256", "recorded" (date), ...}}.
LOCK_NAME = "downloads.lock.json"
LOCK_COMMENT = ("Written by dlcourse.download at the first valid download of each file; later downloads must match. "
                "To accept a change upstream, delete its entry. `--pin` turns entries into registry lines.")


def lock_key(dataset: Dataset, remote: RemoteFile) -> str:
    return f"{dataset.name}/{remote.filename}"


@functools.cache  # each note once per process
def _note_once(text: str) -> None:
    print(f"note: {text}")


def read_lock(root) -> dict:
    """The lock's entries that have a URL, a size and a SHA-256 of 64 hex digits. Never raises: an unreadable
    lock is moved aside as ``.corrupt`` (a new one is started) and a malformed entry is ignored, each with a
    note on stdout."""
    lock = Path(root) / LOCK_NAME
    try:
        data = json.loads(lock.read_text(encoding="utf-8")) if lock.exists() else {}
        if not isinstance(data, dict):
            raise ValueError("it does not hold a JSON object")
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON, not an object
        try:
            where = f"moved it to {_move_aside(lock)}"
        except OSError:
            where = "ignoring it"
        _note_once(f"the lock file {lock} cannot be read ({type(exc).__name__}: {exc}); {where}")
        return {}
    good = {k: e for k, e in data.items() if isinstance(e, dict) and isinstance(e.get("url"), str)
            and type(e.get("size")) is int and re.fullmatch("[0-9a-f]{64}", str(e.get("sha256")))}
    if bad := sorted(k for k in data.keys() - good.keys() if not k.startswith("_")):
        _note_once(f"ignoring malformed entries in {lock}: {', '.join(bad)}")
    return good


def _record(root: Path, key: str, entry: dict) -> None:
    """Write ``entry`` under ``key`` in the lock, atomically (an entry with the same hash is kept)."""
    lock, entries = root / LOCK_NAME, read_lock(root)
    if entries.get(key, {}).get("sha256") == entry["sha256"]:
        return
    tmp = lock.with_name(f".{LOCK_NAME}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps({**entries, key: entry, "_comment": LOCK_COMMENT}, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, lock)
        print(f"{key}: recorded its size and SHA-256 in {lock}")
    except OSError as exc:  # the download is valid all the same
        print(f"note: could not record {key} in {lock} ({exc}); later downloads of it are not checked against it")
    finally:
        tmp.unlink(missing_ok=True)


def _move_aside(path: Path, suffix: str = ".corrupt") -> Path:
    """Rename ``path`` to ``<name><suffix>`` (replacing an older one), so that nothing uses it."""
    os.replace(path, bad := path.with_name(path.name + suffix))
    return bad


def _path(root: Path, dataset: Dataset, remote: RemoteFile) -> Path:
    """Where a file is saved: an archive beside its folder, the one file as target, files in target."""
    if dataset.kind == "files":
        return root / dataset.target / remote.filename
    return root / (dataset.target if dataset.kind == "file" else remote.filename)


def _present(root: Path, d: Dataset) -> bool:
    """Is a valid copy of ``d`` there (not checking hashes)?"""
    paths = [root / d.target] if d.kind == "archive" else [_path(root, d, f) for f in d.files]
    return bool(paths) and not any(d.validate(p) for p in paths)


def _processor(root: Path, dataset: Dataset, source: str, origin: str):
    """A pooch processor: unzip an archive into a temporary folder, validate the file or folder, and only
    then put it in place of the dataset's folder; what does not validate is moved aside as ``.corrupt``."""
    def process(fname, action, pup):
        if action == "update":
            print(f"{fname} differed from {origin}; downloaded it again")
        tmp, folder = root / f".{dataset.target}.tmp-{uuid.uuid4().hex[:8]}", Path(fname)
        try:
            try:
                if dataset.kind == "archive":
                    pooch.Unzip(extract_dir=str(tmp))(fname, action, pup)
                    top = list(tmp.iterdir())  # the files, or one folder holding them
                    folder = top[0] if len(top) == 1 and top[0].is_dir() else tmp
                problems = dataset.validate(folder)
            except Exception as exc:  # noqa: BLE001 -- a bad zip raises BadZipFile, zlib.error, OSError...
                problems = [f"not a valid zip archive ({exc})"]
            if problems:
                raise DownloadError(f"{dataset.name}: {'; '.join(problems)} (downloaded from {source}); "
                                    f"moved to {_move_aside(Path(fname))} and not used")
            if dataset.kind == "archive":  # replace the old copy only now
                shutil.rmtree(root / dataset.target, ignore_errors=True)
                os.rename(folder, root / dataset.target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return action
    return process


def _download(root: Path, dataset: Dataset, remote: RemoteFile, url: str, force: bool) -> bool:
    """One file through pooch, which keeps a present file matching its expected hash (the registry's, else the
    lock's), else downloads it (with a progress bar and retries) and checks its hash and size. True if it was
    downloaded or unpacked."""
    key, path = lock_key(dataset, remote), _path(root, dataset, remote)
    known = {"sha256": remote.sha256.lower(), "size": remote.size} if remote.sha256 else read_lock(root).get(key, {})
    sha256, size = known.get("sha256"), known.get("size")
    origin = ("the SHA-256 pinned in dlcourse.download" if remote.sha256 else
              f"the hash recorded on {known.get('recorded', '?')} in {root / LOCK_NAME}" if known else "")
    kept = _move_aside(path, ".old") if force and path.exists() else None  # back in place if the download fails
    if path.exists() and dataset.kind != "archive" and (problems := dataset.validate(path)):
        print(f"{path} is not valid ({'; '.join(problems)}); moved it to {_move_aside(path)}, downloading it again")
    http = pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})

    def download(url, output_file, pup):  # pooch's, then the size check (pooch retries after a ValueError)
        http(url, output_file, pup)
        if size is not None and (got := os.path.getsize(output_file)) != size:
            raise ValueError(f"size mismatch ({got} bytes, expected {size})")
    pup = pooch.create(path.parent, base_url="", registry={path.name: sha256 and f"sha256:{sha256}"},
                       urls={path.name: url}, retry_if_failed=RETRIES)
    logger, handlers = pooch.get_logger(), pooch.get_logger().handlers
    logger.handlers = [logging.StreamHandler(sys.stdout)]  # its log (each retry) on stdout, as all we print
    try:
        with contextlib.redirect_stderr(sys.stdout):  # and its progress bar
            action = pup.fetch(path.name, processor=_processor(root, dataset, url, origin), downloader=download)
    except Exception as exc:
        if kept is not None:
            os.replace(kept, path)
        if not isinstance(exc, (ValueError, requests.RequestException)):
            raise
        advice = "" if remote.sha256 else (f"; if the file was changed upstream on purpose, delete the entry "
                                           f"\"{key}\" from that file and download again")
        note = f" It differs from {origin}{advice}." if origin and isinstance(exc, ValueError) else ""
        raise DownloadError(f"cannot download {url} ({RETRIES + 1} attempts): {exc}{note}") from exc
    finally:
        logger.handlers = handlers
    if changed := action != "fetch" or dataset.kind == "archive":  # a zip is there only if pooch put it there
        _record(root, key, {"url": remote.url, "size": path.stat().st_size,
                            "sha256": sha256 or pooch.file_hash(str(path)),
                            "recorded": datetime.now(timezone.utc).date().isoformat(),
                            **({"downloaded_from": url} if url != remote.url else {})})
    for done in (kept, path if dataset.kind == "archive" else None):  # the old copy; an extracted zip
        if done is not None:
            done.unlink(missing_ok=True)
    return changed


def fetch(name: str, dest=None, force: bool = False, url=None) -> Path:
    """Download the dataset ``name`` (see DATASETS) unless a valid copy is there; return its path.

    ``dest``: folder to put it in (default: the data root); ``force``: download again even if a valid copy
    exists; ``url``: another source (tests, mirrors), for several files a base URL ending in '/'. Raises
    DownloadError when the download fails, differs from its expected hash or does not validate."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    dataset, root = DATASETS[name], Path(dest) if dest is not None else data_root()
    if url and not url.endswith("/") and len(dataset.files) > 1:
        raise ValueError(f"{name} has {len(dataset.files)} files: give a base URL ending in '/'")
    root.mkdir(parents=True, exist_ok=True)
    target, changed = root / dataset.target, True
    if dataset.get is not None:
        try:
            dataset.get(target)
        except Exception as exc:  # noqa: BLE001 -- URLError offline, RuntimeError on a bad file
            raise DownloadError(f"{exc}; offline, its loader falls back to bundled data") from exc
    elif dataset.kind == "archive" and not force and _present(root, dataset):
        changed = False
    else:
        if dataset.kind == "archive" and not force and target.exists():
            print(f"{name}: the copy in {target} is incomplete or invalid; downloading again")
        changed = any([_download(root, dataset, f, url and (url + f.filename if url.endswith("/") else url) or f.url,
                                 force) for f in dataset.files])
    print(f"{name}: {'ready' if changed else 'already present'} in {target}")
    return target


def _list(root: Path) -> int:
    """Print each dataset, whether it is here, and how each of its files is verified."""
    lock = read_lock(root)
    print(f"Data root: {root}\nLock file: {root / LOCK_NAME} ({len(lock)} entries)")
    for d in DATASETS.values():
        state = "torchvision" if d.get else "present" if _present(root, d) else "missing"
        print(f"  {d.name:<16} {state:<8} -> {root / d.target}\n  {'':<16} {d.description}")
        for f in d.files:
            entry = lock.get(lock_key(d, f))
            how = (f"pinned {f.sha256[:12]}" if f.sha256 else "unverified (hash recorded at the first download)"
                   if entry is None else f"locked {entry['sha256'][:12]} (recorded {entry.get('recorded', '?')})")
            print(f"  {'':<16}   {f.filename}: {how}{'; ' + f.credit if f.credit else ''}")
    print("Offline stand-ins (--offline NAME): " + ", ".join(d.name for d in DATASETS.values() if d.offline))
    return 0


PIN_HEADER = "# RemoteFile entries with their hashes: replace the same files' entries in DATASETS with them"


def _pin(root: Path, names: list, url=None) -> int:
    """--pin: print the registry entries of ``names`` (default: those in the lock) with their recorded
    hashes, downloading first what is not recorded yet; 0 if all could be pinned."""
    lock = read_lock(root)
    if not (names := names or [d.name for d in DATASETS.values() if any(lock_key(d, f) in lock for f in d.files)]):
        print(f"error: nothing to pin: {root / LOCK_NAME} has no entries yet; name the datasets "
              "to download and pin, e.g. `python -m dlcourse.download --pin cola`")
        return 1
    status, lines = 0, []
    for d in (DATASETS[n] for n in names):
        if d.get:
            print(f"{d.name}: torchvision downloads it and checks it against its own MD5 checksums; nothing to pin")
            continue
        try:
            if any(lock_key(d, f) not in read_lock(root) for f in d.files):
                fetch(d.name, dest=root, force=True, url=url)  # a present copy cannot be trusted
            for f, entry in ((f, read_lock(root)[lock_key(d, f)]) for f in d.files):
                if entry["url"] != f.url:  # the registry's URL changed since
                    raise DownloadError(f"{lock_key(d, f)} was recorded for {entry['url']}; delete it, pin again")
                lines.append(f"    {replace(f, sha256=entry['sha256'], size=entry['size'])!r},  # {lock_key(d, f)}")
        except DownloadError as exc:
            print(f"error: cannot pin {d.name}: {exc}")
            status = 1
    if lines:
        print(PIN_HEADER + "\n" + "\n".join(lines))
    return status


def main(argv=None) -> int:
    """The command line (see the module docstring): 0 if all went well, 1 if a download failed, 2 on misuse."""
    parser = argparse.ArgumentParser(prog="python -m dlcourse.download", description="Fetch the course datasets.")
    parser.add_argument("names", nargs="*", help="dataset names (see --list)")
    parser.add_argument("--dest", help="folder to put the data in (default: $DLCOURSE_DATA or ~/.dlcourse/data)")
    parser.add_argument("--url", help="download from this URL instead (several files: a base URL ending in /)")
    for flag, what in [("--list", "list the datasets and whether they are here"),
                       ("--force", "download again even if a valid copy exists"),
                       ("--offline", "build the offline stand-in instead of downloading"),
                       ("--pin", "print registry entries with the lock's hashes (downloading what it lacks)")]:
        parser.add_argument(flag, action="store_true", help=what)
    with contextlib.redirect_stderr(sys.stdout):  # its errors too: graders treat stderr as failure
        args = parser.parse_args(argv)
    root, unknown = Path(args.dest) if args.dest else data_root(), [n for n in args.names if n not in DATASETS]
    if args.list:
        return _list(root)
    if unknown or (args.pin and args.offline) or not (args.names or args.pin):
        print(f"error: unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}" if unknown else
              "error: --pin records real downloads; it cannot be combined with --offline" if args.pin else
              parser.format_help())
        return 2
    if args.pin:
        return _pin(root, args.names, args.url)
    status = 0
    for d in (DATASETS[n] for n in args.names):
        try:
            if args.offline:
                print(f"{d.name}: generated stand-in in {d.offline(root)}" if d.offline else
                      f"{d.name}: no generated stand-in; offline, its loader falls back to bundled data")
            else:
                fetch(d.name, dest=root, force=args.force, url=args.url)
        except DownloadError as exc:
            print(f"error: {exc}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
