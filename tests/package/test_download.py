"""Tests of dlcourse.download (on pooch) and dlcourse.images against a local HTTP server.

No network is needed: an in-process threading server on 127.0.0.1 serves files with
or without Range support, can drop a connection half-way once, answer 404, or stall.
pooch makes RETRIES new attempts after a failure, waiting 1 s before the first: the
tests set RETRIES to 0 unless a retry is what they check.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dlcourse import download
from dlcourse.data import coco, load_coco_data, offline_coco
from dlcourse.data.coco import find_coco_problems
from dlcourse.download import DATASETS, DownloadError, RemoteFile, fetch
from dlcourse.images import image_from_url, show_captioned_images
from tests.net import free_port


@dataclasses.dataclass
class Route:
    data: bytes
    ranges: bool = True  # honour Range requests
    drop_once: bool = False  # first response stops half-way and closes the connection
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep stderr clean
        pass

    def do_GET(self):
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        route = server.routes.get(self.path)
        if route is None or route.status != 200:
            self.send_error(404 if route is None else route.status)
            return
        if route.delay:
            time.sleep(route.delay)
        data, start = route.data, 0
        wanted = self.headers.get("Range")
        if wanted and route.ranges:
            start = int(wanted.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        try:
            if route.drop_once:
                route.drop_once = False
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.log = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path, monkeypatch):
    root = tmp_path / "data_root"
    monkeypatch.setenv("DLCOURSE_DATA", str(root))
    monkeypatch.setattr(download, "RETRIES", 0)
    return root


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return offline_coco.generate_offline_coco(tmp_path_factory.mktemp("tiny") / "coco_offline",
                                              n_train=30, n_val=10, verbose=False)


def make_zip(folder: Path, skip=()) -> bytes:
    """A zip in the real archive's layout: coco_captioning/<the eight files>."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in coco.EXPECTED_FILES:
            if name not in skip:
                zf.write(folder / name, f"coco_captioning/{name}")
    return buf.getvalue()


@pytest.fixture(scope="module")
def coco_zip(tiny_set):
    return make_zip(tiny_set)


def png_bytes(seed=0, size=(40, 48)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/x.png"


# ------------------------------------------------------------------------------------
# COCO archive
# ------------------------------------------------------------------------------------

def test_full_download_extracts_a_validated_folder(server, coco_zip, isolated_data_root, capsys):
    """Is the archive downloaded with a progress bar (on stdout), extracted, validated and used?"""
    server.routes["/coco_captioning.zip"] = Route(coco_zip)
    path = fetch("coco_captioning", url=server.url + "/coco_captioning.zip")
    assert path == isolated_data_root / "coco_captioning"
    assert find_coco_problems(path) == []
    out = capsys.readouterr()
    assert "100%|" in out.out and "Downloading file 'coco_captioning.zip'" in out.out
    assert out.err == ""
    # zip and pooch's temporary file gone; the lock file records the zip's size and SHA-256
    assert sorted(p.name for p in isolated_data_root.iterdir()) == ["coco_captioning", "downloads.lock.json"]
    data = load_coco_data()
    assert "Using the real COCO" in capsys.readouterr().out
    assert data["train_features"].shape == (30, 512)
    n_requests = len(server.log)
    assert fetch("coco_captioning", url=server.url + "/coco_captioning.zip") == path
    assert len(server.log) == n_requests and "already present" in capsys.readouterr().out


def test_dropped_connection_is_downloaded_again(server, coco_zip, isolated_data_root, monkeypatch, capsys):
    """When the server drops the connection mid-file once, does pooch's retry download the file again
    from zero (no Range request, nothing of the cut transfer kept) and say so on stdout? Without a
    retry left, is it a DownloadError that leaves nothing behind?"""
    server.routes["/c.zip"] = Route(coco_zip, drop_once=True)
    with pytest.raises(DownloadError, match="cannot download .*1 attempts"):
        fetch("coco_captioning", url=server.url + "/c.zip")
    assert not isolated_data_root.exists() or sorted(p.name for p in isolated_data_root.iterdir()) == []
    monkeypatch.setattr(download, "RETRIES", 1)
    server.routes["/c.zip"].drop_once, server.log[:] = True, []
    path = fetch("coco_captioning", url=server.url + "/c.zip")
    assert find_coco_problems(path) == []
    assert server.log == [("/c.zip", None), ("/c.zip", None)]
    out = capsys.readouterr()
    assert "Will attempt the download again 1 more time" in out.out and out.err == ""
    assert sorted(p.name for p in isolated_data_root.iterdir()) == ["coco_captioning", "downloads.lock.json"]


def test_broken_file_on_disk_is_set_aside_and_downloaded_again(server, isolated_data_root, capsys):
    """Is a present file that does not validate (here a truncated .npz, e.g. from an interrupted copy)
    moved aside as .corrupt and downloaded again, with one request?"""
    good = _npz()
    isolated_data_root.mkdir(parents=True)
    (isolated_data_root / "imagenet_val_25.npz").write_bytes(good[:1000])
    server.routes["/v.npz"] = Route(good)
    path = fetch("imagenet_val_25", url=server.url + "/v.npz")
    assert path.read_bytes() == good and len(server.log) == 1
    assert (isolated_data_root / "imagenet_val_25.npz.corrupt").read_bytes() == good[:1000]
    assert "is not valid" in capsys.readouterr().out


def test_zip_left_by_an_interrupted_extraction_is_used_without_a_download(server, coco_zip, isolated_data_root):
    """pooch moves a download into place only when complete: is a zip found there (the run stopped while
    extracting) extracted, validated and recorded, with no request?"""
    isolated_data_root.mkdir(parents=True)
    (isolated_data_root / "coco_captioning.zip").write_bytes(coco_zip)
    path = fetch("coco_captioning", url=server.url + "/c.zip")
    assert find_coco_problems(path) == [] and server.log == []
    assert sorted(p.name for p in isolated_data_root.iterdir()) == ["coco_captioning", "downloads.lock.json"]


def test_corrupt_zip_is_rejected_moved_aside_and_never_used(server, coco_zip, tiny_set, isolated_data_root,
                                                            monkeypatch, capsys):
    bad = bytearray(coco_zip)
    bad[len(bad) // 3: len(bad) // 3 + 5000] = b"\0" * 5000  # damage member data (CRC fails)
    server.routes["/c.zip"] = Route(bytes(bad))
    with pytest.raises(DownloadError, match="moved to"):
        fetch("coco_captioning", url=server.url + "/c.zip")
    names = sorted(p.name for p in isolated_data_root.iterdir())
    assert names == ["coco_captioning.zip.corrupt"]  # no target, no temp folder, no zip
    server.routes["/junk.zip"] = Route(b"this is not a zip file" * 50)
    with pytest.raises(DownloadError, match="not a valid zip"):
        fetch("coco_captioning", url=server.url + "/junk.zip")
    assert not (isolated_data_root / "coco_captioning").exists()
    monkeypatch.setattr(offline_coco, "ensure_offline_coco", lambda dest=None: tiny_set)
    load_coco_data()
    assert "Using the offline captioning set" in capsys.readouterr().out


def test_zip_with_a_missing_file_is_rejected(server, tiny_set, isolated_data_root):
    server.routes["/c.zip"] = Route(make_zip(tiny_set, skip=("coco2014_vocab.json",)))
    with pytest.raises(DownloadError, match="coco2014_vocab.json"):
        fetch("coco_captioning", url=server.url + "/c.zip")
    assert not (isolated_data_root / "coco_captioning").exists()


def test_checksum_is_verified_when_known(server, coco_zip, isolated_data_root, monkeypatch):
    server.routes["/c.zip"] = Route(coco_zip)
    entry = DATASETS["coco_captioning"]
    wrong = dataclasses.replace(entry, files=(RemoteFile(entry.files[0].url, "coco_captioning.zip", "0" * 64),))
    monkeypatch.setitem(DATASETS, "coco_captioning", wrong)
    with pytest.raises(DownloadError, match="does not match the known hash"):
        fetch("coco_captioning", url=server.url + "/c.zip")
    assert list(isolated_data_root.iterdir()) == []  # pooch deleted the download; nothing was extracted
    right = dataclasses.replace(entry, files=(RemoteFile(entry.files[0].url, "coco_captioning.zip",
                                                         hashlib.sha256(coco_zip).hexdigest()),))
    monkeypatch.setitem(DATASETS, "coco_captioning", right)
    assert find_coco_problems(fetch("coco_captioning", url=server.url + "/c.zip")) == []


def test_invalid_existing_copy_is_replaced(server, coco_zip, isolated_data_root, capsys):
    (isolated_data_root / "coco_captioning").mkdir(parents=True)
    (isolated_data_root / "coco_captioning" / "junk.txt").write_text("half an extraction")
    server.routes["/c.zip"] = Route(coco_zip)
    path = fetch("coco_captioning", url=server.url + "/c.zip")
    assert find_coco_problems(path) == [] and not (path / "junk.txt").exists()
    assert "incomplete or invalid" in capsys.readouterr().out


def test_http_errors_and_no_server_raise_download_error(server, isolated_data_root):
    with pytest.raises(DownloadError, match="404"):
        fetch("coco_captioning", url=server.url + "/missing.zip")
    with pytest.raises(DownloadError, match="cannot download .*attempts"):
        fetch("imagenet_val_25", url=closed_port_url())
    assert list(isolated_data_root.iterdir()) == []


# ------------------------------------------------------------------------------------
# Other datasets
# ------------------------------------------------------------------------------------

def _npz(shape=(25, 224, 224, 3), fill=0) -> bytes:
    """A valid imagenet_val_25 file; another ``fill`` gives other bytes of the same size."""
    buf = io.BytesIO()
    np.savez(buf, X=np.full(shape, fill, np.uint8), y=np.arange(25), label_map=np.array({0: "tench"}, dtype=object))
    return buf.getvalue()


def test_imagenet_val_25_validated(server, isolated_data_root):
    server.routes["/good.npz"] = Route(_npz())
    server.routes["/bad.npz"] = Route(_npz((25, 32, 32, 3)))
    with pytest.raises(DownloadError, match=r"\(25, 224, 224, 3\)"):
        fetch("imagenet_val_25", url=server.url + "/bad.npz")
    assert (isolated_data_root / "imagenet_val_25.npz.corrupt").exists()
    assert not (isolated_data_root / "imagenet_val_25.npz").exists()
    path = fetch("imagenet_val_25", url=server.url + "/good.npz")
    assert path == isolated_data_root / "imagenet_val_25.npz"
    with np.load(path, allow_pickle=True) as npz:
        assert npz["X"].shape == (25, 224, 224, 3)


def test_style_images_are_checked_one_by_one(server, isolated_data_root):
    names = [f.filename for f in DATASETS["style_images"].files]
    assert names == ["starry_night.jpg", "the_scream.jpg", "composition_vii.jpg", "tubingen.jpg"]
    assert all(f.url.startswith("https://upload.wikimedia.org/") for f in DATASETS["style_images"].files)
    for i, name in enumerate(names):
        server.routes[f"/styles/{name}"] = Route(png_bytes(i))
    server.routes["/styles/tubingen.jpg"] = Route(b"<html>rate limited</html>", content_type="text/html")
    with pytest.raises(DownloadError, match="not a decodable image"):
        fetch("style_images", url=server.url + "/styles/")
    assert (isolated_data_root / "styles" / "tubingen.jpg.corrupt").exists()
    server.routes["/styles/tubingen.jpg"] = Route(png_bytes(9))
    before = len(server.log)
    path = fetch("style_images", url=server.url + "/styles/")
    assert len(server.log) == before + 1  # the three good files were kept
    assert all(image_from_url(str(path / n)).shape == (40, 48, 3) for n in names)


# ------------------------------------------------------------------------------------
# Verification: pinned hashes and the lock file
# ------------------------------------------------------------------------------------

IMAGENET_KEY = "imagenet_val_25/imagenet_val_25.npz"


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _read_lock(root: Path) -> dict:
    return json.loads((root / "downloads.lock.json").read_text())


def _entries(lock: dict) -> dict:
    return {k: v for k, v in lock.items() if not k.startswith("_")}


def _styles_routes(server, base="/styles/", seed=0) -> list:
    names = [f.filename for f in DATASETS["style_images"].files]
    for i, name in enumerate(names):
        server.routes[f"{base}{name}"] = Route(png_bytes(seed + i))
    return names


def test_pinned_hash_accepts_the_good_file_and_rejects_an_altered_one(server, isolated_data_root, monkeypatch,
                                                                      capsys):
    """With a pinned sha256 and size in the registry (the hash in capitals), is an altered file of the same
    size, valid as an .npz, rejected by pooch (and deleted), a truncated one rejected by its size, and the
    good one accepted and recorded in the lock, over a stale lock entry (the pin takes precedence)?"""
    good, altered = _npz(), _npz(fill=7)
    assert len(good) == len(altered) and good != altered
    entry = DATASETS["imagenet_val_25"]
    sha = hashlib.sha256(good).hexdigest()
    pinned = dataclasses.replace(entry.files[0], sha256=sha.upper(), size=len(good))
    monkeypatch.setitem(DATASETS, "imagenet_val_25", dataclasses.replace(entry, files=(pinned,)))

    server.routes["/altered.npz"] = Route(altered)
    with pytest.raises(DownloadError, match="does not match the known hash.*pinned in dlcourse.download"):
        fetch("imagenet_val_25", url=server.url + "/altered.npz")
    assert list(isolated_data_root.iterdir()) == []
    server.routes["/short.npz"] = Route(good[:-10])
    with pytest.raises(DownloadError, match=f"size mismatch \\({len(good) - 10} bytes, expected {len(good)}\\)"):
        fetch("imagenet_val_25", url=server.url + "/short.npz")
    assert not (isolated_data_root / "imagenet_val_25.npz").exists()

    stale = {"url": pinned.url, "size": 1, "sha256": "0" * 64, "recorded": "2020-01-01"}
    (isolated_data_root / "downloads.lock.json").write_text(json.dumps({IMAGENET_KEY: stale}))
    server.routes["/good.npz"] = Route(good)
    path = fetch("imagenet_val_25", url=server.url + "/good.npz")
    assert path.read_bytes() == good
    entry = _read_lock(isolated_data_root)[IMAGENET_KEY]
    assert (entry["sha256"], entry["size"], entry["recorded"]) == (sha, len(good), _today())
    assert capsys.readouterr().err == ""


def test_first_download_is_recorded_and_later_downloads_must_match_it(server, isolated_data_root, capsys):
    """Without a known hash: does the first download write the lock entry (size and SHA-256 as hashlib
    computes them), a forced download of the same bytes pass, and a download of changed bytes (forced, or
    after the file was lost) get rejected with the old copy kept? Is a present copy edited on disk
    detected and downloaded again?"""
    first, changed = _npz(), _npz(fill=3)
    source = server.url + "/v.npz"
    server.routes["/v.npz"] = Route(first)
    path = fetch("imagenet_val_25", url=source)
    lock_file = isolated_data_root / "downloads.lock.json"
    lock = _read_lock(isolated_data_root)
    assert lock[IMAGENET_KEY] == {"url": DATASETS["imagenet_val_25"].files[0].url, "size": len(first),
                                  "sha256": hashlib.sha256(first).hexdigest(), "recorded": _today(),
                                  "downloaded_from": source}
    assert "dlcourse.download" in lock["_comment"] and "delete its entry" in lock["_comment"]
    text = lock_file.read_text()
    assert text == json.dumps(lock, indent=2, sort_keys=True) + "\n"  # human-readable, stable
    assert not [p for p in isolated_data_root.iterdir() if p.name.startswith(".")]  # no temp file left

    assert fetch("imagenet_val_25", url=source, force=True) == path  # the same bytes again: accepted
    assert lock_file.read_text() == text  # the entry (and its date) is unchanged

    server.routes["/v.npz"] = Route(changed)
    with pytest.raises(DownloadError) as info:
        fetch("imagenet_val_25", url=source, force=True)
    message = str(info.value)
    assert "does not match the known hash" in message and f"recorded on {_today()} in {lock_file}" in message
    assert f'delete the entry "{IMAGENET_KEY}"' in message
    assert path.read_bytes() == first  # the valid copy is still there and still used
    assert sorted(p.name for p in isolated_data_root.iterdir()) == ["downloads.lock.json", "imagenet_val_25.npz"]
    path.unlink()  # e.g. a new runtime whose data root (with the lock) is kept in Google Drive
    with pytest.raises(DownloadError, match="recorded on"):
        fetch("imagenet_val_25", url=source)
    assert not path.exists() and lock_file.read_text() == text

    server.routes["/v.npz"] = Route(first)
    path.write_bytes(changed)  # a valid .npz, but not the file that was downloaded
    n_requests = len(server.log)
    assert fetch("imagenet_val_25", url=source) == path
    assert path.read_bytes() == first and len(server.log) == n_requests + 1
    out = capsys.readouterr()
    assert "differed from the hash recorded" in out.out and out.err == ""


def test_changed_archive_is_rejected_and_the_extracted_copy_kept(server, coco_zip, isolated_data_root):
    """Is a zip recorded at its first download, a changed zip rejected at download time (the extracted
    folder left as it was), and accepted once its lock entry is deleted, as the error message says?"""
    server.routes["/c.zip"] = Route(coco_zip)
    folder = fetch("coco_captioning", url=server.url + "/c.zip")
    key = "coco_captioning/coco_captioning.zip"
    entry = _read_lock(isolated_data_root)[key]
    assert (entry["sha256"], entry["size"]) == (hashlib.sha256(coco_zip).hexdigest(), len(coco_zip))
    buf = io.BytesIO(coco_zip)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("coco_captioning/NEWS.txt", "a new upstream release")
    changed = buf.getvalue()
    server.routes["/c.zip"] = Route(changed)
    with pytest.raises(DownloadError, match=f'recorded on .*delete the entry "{key}"'):
        fetch("coco_captioning", url=server.url + "/c.zip", force=True)
    assert not (isolated_data_root / "coco_captioning.zip").exists()
    assert find_coco_problems(folder) == [] and not (folder / "NEWS.txt").exists()
    lock = _read_lock(isolated_data_root)
    del lock[key]  # the instructor's way of accepting a deliberate change upstream
    (isolated_data_root / "downloads.lock.json").write_text(json.dumps(lock))
    fetch("coco_captioning", url=server.url + "/c.zip", force=True)
    assert (folder / "NEWS.txt").exists()
    assert _read_lock(isolated_data_root)[key]["sha256"] == hashlib.sha256(changed).hexdigest()


def test_present_files_edited_on_disk_are_downloaded_again(server, isolated_data_root, capsys):
    """For a "files" dataset, is a present file that still validates (an image) but differs from its
    recorded hash downloaded again, alone, with a note, and are matching files left untouched?"""
    names = _styles_routes(server)
    base = server.url + "/styles/"
    folder = fetch("style_images", url=base)
    assert sorted(_entries(_read_lock(isolated_data_root))) == sorted(f"style_images/{n}" for n in names)
    (folder / "the_scream.jpg").write_bytes(png_bytes(42))
    n_requests = len(server.log)
    fetch("style_images", url=base)
    assert [p for p, _ in server.log[n_requests:]] == ["/styles/the_scream.jpg"]
    assert (folder / "the_scream.jpg").read_bytes() == png_bytes(1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    n_requests = len(server.log)
    fetch("style_images", url=base)
    assert len(server.log) == n_requests
    out = capsys.readouterr()
    assert "the_scream.jpg differed from the hash recorded" in out.out
    assert "already present" in out.out and out.err == ""


@pytest.mark.parametrize("content", ["{ not json", "[1, 2]", b"\xff\xfe\x00garbage"])
def test_unreadable_lock_is_reported_once_and_replaced(server, isolated_data_root, content, capsys):
    """Does an unreadable lock file (not JSON, not an object, not text) never crash --list or a download,
    get reported once on stdout, moved aside, and replaced by a lock with the new entry?"""
    isolated_data_root.mkdir(parents=True)
    lock_file = isolated_data_root / "downloads.lock.json"
    (lock_file.write_bytes if isinstance(content, bytes) else lock_file.write_text)(content)
    assert download.read_lock(isolated_data_root) == {}
    assert download.main(["--list"]) == 0
    server.routes["/v.npz"] = Route(_npz())
    fetch("imagenet_val_25", url=server.url + "/v.npz")
    out = capsys.readouterr()
    assert out.out.count("cannot be read") == 1 and out.err == ""
    corrupt = isolated_data_root / "downloads.lock.json.corrupt"
    assert corrupt.read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert _read_lock(isolated_data_root)[IMAGENET_KEY]["size"] == len(_npz())


def test_malformed_lock_entry_is_ignored(server, isolated_data_root, capsys):
    """Is a hand-edited entry without a proper hash ignored (with a note) rather than used or fatal?"""
    isolated_data_root.mkdir(parents=True)
    (isolated_data_root / "downloads.lock.json").write_text(json.dumps({IMAGENET_KEY: {"sha256": "xyz"}}))
    server.routes["/v.npz"] = Route(_npz())
    fetch("imagenet_val_25", url=server.url + "/v.npz")
    assert _read_lock(isolated_data_root)[IMAGENET_KEY]["sha256"] == hashlib.sha256(_npz()).hexdigest()
    out = capsys.readouterr()
    assert f"ignoring malformed entries in {isolated_data_root / 'downloads.lock.json'}: {IMAGENET_KEY}" in out.out
    assert out.err == ""


def test_pin_prints_the_lock_as_lines_for_pinned(server, isolated_data_root, monkeypatch, capsys):
    """Does --pin download what is not recorded yet and print registry entries that, pasted into
    DATASETS, carry the lock's sha256 and size (and keep URL, name and credit), and that then pin?"""
    _styles_routes(server, base="/d/")
    server.routes["/d/imagenet_val_25.npz"] = Route(_npz())
    assert download.main(["--pin", "imagenet_val_25", "style_images", "--url", server.url + "/d/"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.count(download.PIN_HEADER) == 1
    block = out.out.split(download.PIN_HEADER + "\n", 1)[1]
    pinned = eval("[\n" + block + "]", {"RemoteFile": RemoteFile})  # noqa: S307 -- what the instructor pastes
    lock = _entries(_read_lock(isolated_data_root))
    assert {f.url: (f.sha256, f.size) for f in pinned} == {e["url"]: (e["sha256"], e["size"]) for e in lock.values()}
    registry = DATASETS["imagenet_val_25"].files + DATASETS["style_images"].files
    assert [dataclasses.replace(f, sha256=None, size=None) for f in pinned] == list(registry)
    assert len(pinned) == 5 and all(f"# {key}" in block for key in lock)

    n_requests = len(server.log)
    assert download.main(["--pin"]) == 0  # default: the datasets in the lock, nothing downloaded
    assert len(server.log) == n_requests
    assert capsys.readouterr().out.split(download.PIN_HEADER + "\n", 1)[1] == block

    monkeypatch.setitem(DATASETS, "imagenet_val_25", dataclasses.replace(DATASETS["imagenet_val_25"],
                                                                         files=(pinned[0],)))
    server.routes["/other.npz"] = Route(_npz(fill=5))
    with pytest.raises(DownloadError, match="pinned in dlcourse.download"):
        fetch("imagenet_val_25", dest=isolated_data_root.parent / "fresh", url=server.url + "/other.npz")


def test_pin_without_anything_to_pin_fails_with_a_message(server, isolated_data_root, capsys):
    """Does --pin exit with 1 and an error line when the lock is empty or the download fails, and say
    that torchvision checks its own datasets instead of failing for them?"""
    assert download.main(["--pin"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: nothing to pin") and download.PIN_HEADER not in out
    assert download.main(["--pin", "cola", "--url", server.url + "/missing.zip"]) == 1
    out = capsys.readouterr().out
    assert "error: cannot pin cola" in out and "404" in out and download.PIN_HEADER not in out
    assert download.main(["--pin", "mnist", "cifar10"]) == 0
    out = capsys.readouterr()
    assert out.out.count("torchvision") == 2 and "MD5" in out.out and out.err == ""
    assert download.main(["--pin", "--offline", "cola"]) == 2


def test_list_says_how_each_file_is_verified(server, isolated_data_root, monkeypatch, capsys):
    """Does --list show per file: pinned, locked with the first 12 hex digits of its hash, or unverified?"""
    styles = DATASETS["style_images"]
    starry = dataclasses.replace(styles.files[0], sha256="ab" * 32, size=123)
    monkeypatch.setitem(DATASETS, "style_images", dataclasses.replace(styles, files=(starry, *styles.files[1:])))
    server.routes["/v.npz"] = Route(_npz())
    fetch("imagenet_val_25", url=server.url + "/v.npz")
    capsys.readouterr()
    assert download.main(["--list"]) == 0
    lines = {line.split(":")[0].strip(): line for line in capsys.readouterr().out.splitlines()}
    assert "starry_night.jpg: pinned abababababab" in lines["starry_night.jpg"]
    short = hashlib.sha256(_npz()).hexdigest()[:12]
    assert f"imagenet_val_25.npz: locked {short} (recorded {_today()})" in lines["imagenet_val_25.npz"]
    assert "unverified" in lines["the_scream.jpg"] and "unverified" in lines["cola_public_1.1.zip"]
    assert "(1 entries)" in lines["Lock file"]


# ------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------

def test_cli_list_fetch_offline_and_errors(server, coco_zip, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "elsewhere"
    assert download.main(["--list", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS) and "missing" in out
    server.routes["/c.zip"] = Route(coco_zip)
    assert download.main(["coco_captioning", "--dest", str(dest), "--url", server.url + "/c.zip"]) == 0
    assert find_coco_problems(dest / "coco_captioning") == []
    assert download.main(["coco_captioning", "--dest", str(dest), "--url", server.url + "/none.zip",
                          "--force"]) == 1
    assert "error:" in capsys.readouterr().out
    assert download.main(["no_such_data"]) == 2
    real_generate = offline_coco.generate_offline_coco
    monkeypatch.setattr(offline_coco, "generate_offline_coco",
                        lambda d: real_generate(d, n_train=20, n_val=8, verbose=True))
    assert download.main(["--offline", "coco_captioning", "--dest", str(dest)]) == 0
    assert find_coco_problems(dest / "coco_offline") == []
    assert capsys.readouterr().err == ""


def test_cli_runs_as_a_module_with_a_clean_stderr(tmp_path):
    env = {"DLCOURSE_DATA": str(tmp_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "dlcourse.download", "--list"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 0 and res.stderr == ""
    assert "coco_captioning" in res.stdout and str(tmp_path) in res.stdout
    res = subprocess.run([sys.executable, "-m", "dlcourse.download", "--bogus"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 2 and res.stderr == "" and "error:" in res.stdout


def test_cli_pin_and_a_broken_lock_keep_stderr_empty(tmp_path):
    """Do `--pin` with nothing to pin (exit 1) and `--list` over an unreadable lock print on stdout only?"""
    env = {"DLCOURSE_DATA": str(tmp_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "dlcourse.download", "--pin"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 1 and res.stderr == "" and "error: nothing to pin" in res.stdout
    (tmp_path / "downloads.lock.json").write_text("{ truncated")
    res = subprocess.run([sys.executable, "-m", "dlcourse.download", "--list"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 0 and res.stderr == "" and "cannot be read" in res.stdout


# ------------------------------------------------------------------------------------
# Images from URLs
# ------------------------------------------------------------------------------------

def test_image_from_url_reads_http_and_file_urls(server, tmp_path):
    server.routes["/img.png"] = Route(png_bytes(1), content_type="image/png")
    img = image_from_url(server.url + "/img.png")
    assert img.dtype == np.uint8 and img.shape == (40, 48, 3)
    (tmp_path / "a.png").write_bytes(png_bytes(1))
    np.testing.assert_array_equal(image_from_url((tmp_path / "a.png").as_uri()), img)


def test_image_from_url_returns_none_with_a_note_for_dead_links(server, tmp_path, capsys):
    server.routes["/page.html"] = Route(b"<html>gone</html>", content_type="text/html")
    server.routes["/slow.png"] = Route(png_bytes(2), delay=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_from_url(server.url + "/missing.png") is None  # 404
        assert "404" in capsys.readouterr().out
        assert image_from_url(closed_port_url()) is None  # nobody listening
        assert image_from_url(server.url + "/page.html") is None  # not an image
        assert "not an image" in capsys.readouterr().out
        assert image_from_url(server.url + "/slow.png", timeout=0.3) is None  # timeout
        assert image_from_url((tmp_path / "nope.png").as_uri()) is None
        assert image_from_url("ftp://example.invalid/x.png") is None
    out = capsys.readouterr()
    assert out.err == "" and out.out.count("image_from_url:") == 3  # timeout, missing file, ftp
    assert "timed out" in out.out and "unsupported URL scheme" in out.out


def test_show_captioned_images_draws_placeholders_for_dead_urls(server, tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    server.routes["/ok.png"] = Route(png_bytes(3))
    urls = [server.url + "/ok.png", server.url + "/dead.png", closed_port_url()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert show_captioned_images(urls, ["a fine image", "gone", "also gone"], ncols=2) is None
    fig = plt.gcf()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    titles = [ax.get_title() for ax in fig.axes]
    assert texts.count("image unavailable") == 2
    assert "a fine image" in titles and len(fig.axes) == 4
    assert capsys.readouterr().err == ""
    plt.close(fig)
    with pytest.raises(ValueError):
        show_captioned_images(urls, ["only one caption"])
