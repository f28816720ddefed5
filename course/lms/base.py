"""What every LMS layout shares: reading an export without trusting it, and nbgrader's plug points.

An LMS bulk download is written by the LMS, but every name, size and byte in it came from
students: a student's own zip inside it can hold ``../`` or absolute names, symbolic links,
a zip bomb or a thousand files. Nothing here is reused from ``autograder/``; the discipline
is the same as the grader's:

- names: ``\\`` is a separator, absolute names, drive letters, ``..``, NUL and control
  characters, undecodable or over-long names are refused (``clean_path``), never repaired
  into something else; junk that editors and archivers add (``__MACOSX/``, ``._*``,
  ``.DS_Store``, ``.ipynb_checkpoints/``) is skipped;
- entries: only regular files are read; symbolic links, hard links, devices, FIFOs and
  encrypted entries are refused;
- sizes: each file, the whole archive and the number of entries are bounded, a member
  whose compression ratio passes ``MAX_RATIO`` is refused as a zip bomb, and no more bytes
  than the declared size are ever read (``zipfile`` stops there and checks the CRC);
- nesting: a student's zip inside the export is unpacked (in memory, same rules) up to
  ``MAX_DEPTH`` levels; deeper ones are reported.

``SafeExtractor`` is nbgrader's ``ExtractorPlugin`` (the extractor of ``nbgrader
zip_collect``) with these rules; ``LMSCollector`` is its ``FileNameCollectorPlugin`` base,
subclassed once per LMS (course/lms/<lms>.py). ``course/collect.py`` drives both from
Python; ``nbgrader zip_collect --extractor=course.lms.base.SafeExtractor
--collector=course.lms.canvas.CanvasCollector`` runs them too.
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import stat
import tarfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Integer, List, Unicode

from autograder.submission import safe_text

MIB = 1024 * 1024
MAX_MEMBER_BYTES = 256 * MIB  # one file, as unpacked
MAX_TOTAL_BYTES = 4096 * MIB  # everything unpacked from one export, nested zips included
MAX_MEMBERS = 50_000  # entries of one archive (nested ones included)
MAX_RATIO = 200  # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = MIB
MAX_DEPTH = 3  # a zip in a zip in the export
MAX_NESTED_BYTES = 512 * MIB  # everything unpacked from one student's zip (held in memory)
MAX_PARTS = 32  # folders in one name
MAX_NAME_BYTES = 255  # one component, as the file system takes it
JUNK_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def usable_name(part: str) -> bool:
    """Is ``part`` one file name that can be written as it is (no repair, no guessing)?"""
    if part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part:
        return False
    if safe_text(part, limit=10_000) != part:  # control characters, lone surrogates
        return False
    try:
        return len(part.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:
        return False


def clean_path(raw: str) -> tuple[str | None, str]:
    """(the posix path ``raw`` names, "") or (None, why it is refused)."""
    if not isinstance(raw, str) or not raw:
        return None, "an empty name"
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None, "an absolute name"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        return None, "an empty name"
    if ".." in parts:
        return None, "a name that climbs out of its folder (..)"
    if len(parts) > MAX_PARTS:
        return None, f"more than {MAX_PARTS} nested folders"
    for part in parts:
        if not usable_name(part):
            return None, "a name with control characters, undecodable bytes or over 255 bytes"
    return "/".join(parts), ""


def is_junk(path: str) -> bool:
    parts = path.split("/")
    return any(p in JUNK_PARTS for p in parts) or parts[-1] in JUNK_NAMES or parts[-1].startswith("._")


@dataclasses.dataclass
class Member:
    """One regular file of an archive, as unpacked."""

    path: str  # clean posix path inside the archive
    size: int
    local_time: datetime | None = None  # the entry's time as stored (zip: local, no zone)
    utc_time: datetime | None = None  # the entry's time where the archive says UTC (zip extra field, tar)


@dataclasses.dataclass
class Budget:
    members: int = 0
    total: int = 0


class Refused(ValueError):
    """An entry (or a whole archive) that is not unpacked; the message says why."""


def _zip_utc_time(info: zipfile.ZipInfo) -> datetime | None:
    """The UTC modification time of the extended-timestamp extra field (0x5455), if any."""
    extra = info.extra or b""
    i = 0
    while i + 4 <= len(extra):
        tag = int.from_bytes(extra[i:i + 2], "little")
        size = int.from_bytes(extra[i + 2:i + 4], "little")
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            try:
                return datetime.fromtimestamp(int.from_bytes(body[1:5], "little", signed=True), timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
        i += 4 + size
    return None


def _zip_local_time(info: zipfile.ZipInfo) -> datetime | None:
    try:
        return datetime(*info.date_time)
    except (TypeError, ValueError):
        return None


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name: zipfile reads names without the UTF-8 flag as cp437, but most tools
    (and students' zips) write UTF-8 without setting it."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            return name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return name
    return name


def check_zip_entry(info: zipfile.ZipInfo, budget: Budget) -> tuple[str | None, str]:
    """(clean path, "") for an entry to unpack, (None, why) for one refused, (None, "") for a folder."""
    path, why = clean_path(entry_name(info))
    if path is None:
        return None, f"{why}; not unpacked"
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return None, ""
    if stat.S_ISLNK(mode):
        return None, "a symbolic link; not unpacked"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return None, "a special file (device, FIFO or socket); not unpacked"
    if info.flag_bits & 0x1:
        return None, "encrypted; not unpacked (ask for it without a password)"
    budget.members += 1
    if budget.members > MAX_MEMBERS:
        return None, f"more than {MAX_MEMBERS} files in the export; not unpacked"
    if info.file_size > MAX_MEMBER_BYTES:
        return None, f"{info.file_size // MIB} MiB, over the {MAX_MEMBER_BYTES // MIB} MiB bound; not unpacked"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
        return None, f"compressed more than {MAX_RATIO} times (a zip bomb?); not unpacked"
    if budget.total + info.file_size > MAX_TOTAL_BYTES:
        return None, f"the export passes {MAX_TOTAL_BYTES // MIB} MiB unpacked; not unpacked"
    budget.total += info.file_size
    return path, ""


def read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of ``info``, never more than it declares (CRC checked by zipfile)."""
    with archive.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise Refused("its size differs from the one the zip declares")
    return data


def zip_bytes_members(data: bytes, label: str, budget: Budget, notes: list) -> list[tuple[str, bytes, Member]]:
    """The regular files of a zip held in memory (a student's zip), by the rules above.

    ``notes`` gets ``(label/entry, why)`` for every entry left out; a zip that cannot be
    read at all raises ``Refused``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, RuntimeError, EOFError) as exc:
        raise Refused(f"not a readable zip ({type(exc).__name__})") from None
    declared = sum(max(0, i.file_size) for i in infos)
    if declared > MAX_NESTED_BYTES:
        raise Refused(f"it would unpack to {declared // MIB} MiB, over the {MAX_NESTED_BYTES // MIB} MiB bound")
    if declared > RATIO_FLOOR and declared > MAX_RATIO * max(1, len(data)):
        raise Refused(f"it unpacks to more than {MAX_RATIO} times its size (a zip bomb?)")
    out, seen = [], set()
    with archive:
        for info in infos:
            path, why = check_zip_entry(info, budget)
            if path is None:
                if why:
                    notes.append((f"{label}/{safe_text(entry_name(info))}", why))
                continue
            if path in seen:
                notes.append((f"{label}/{path}", "a second entry of the same name in this zip; the first was kept"))
                continue
            seen.add(path)
            try:
                body = read_zip_entry(archive, info)
            except Exception as exc:  # CRC error, unsupported compression, truncated
                notes.append((f"{label}/{path}", f"could not be read from the zip ({safe_text(exc, 120)})"))
                continue
            out.append((path, body, Member(path, len(body), _zip_local_time(info), _zip_utc_time(info))))
    return out


class SafeExtractor(ExtractorPlugin):
    """nbgrader's extractor plug point, for exports that are not trusted.

    ``extract(archive_path, extracted_path)`` keeps nbgrader's contract (every archive in
    ``archive_path`` unpacked into a folder of its own name in ``extracted_path``, other
    files copied); ``extract_archive(path, dest)`` unpacks one zip (or tar) into ``dest``.
    What was left out, and why, is in ``self.notes`` as ``(name, why)``; every file
    unpacked is in ``self.members`` by its path relative to ``dest``.
    """

    zip_ext = List([".zip"], help="Extensions of archives unpacked (zip only; tar is read for folders).").tag(
        config=True)
    max_member_bytes = Integer(MAX_MEMBER_BYTES, help="Largest file unpacked, in bytes.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.notes: list[tuple[str, str]] = []
        self.members: dict[str, Member] = {}
        self.budget = Budget()

    # nbgrader's contract ------------------------------------------------------------
    def extract(self, archive_path: str, extracted_path: str) -> None:
        base = Path(archive_path)
        for entry in sorted(os.scandir(base), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                self.notes.append((safe_text(entry.name), "not a regular file; not read"))
                continue
            src = base / entry.name
            if zipfile.is_zipfile(src):
                dest, n = Path(extracted_path) / Path(entry.name).stem, 1
                while dest.exists():
                    n += 1
                    dest = Path(extracted_path) / f"{Path(entry.name).stem}-{n}"
                self.extract_archive(src, dest)
            elif usable_name(entry.name):
                os.makedirs(extracted_path, exist_ok=True)
                shutil.copyfile(src, Path(extracted_path) / entry.name, follow_symlinks=False)

    # one archive ----------------------------------------------------------------------
    def extract_archive(self, path: Path, dest: Path) -> None:
        """Unpack the zip or tar ``path`` into the new folder ``dest`` (see the module doc)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=False)
        if zipfile.is_zipfile(path):
            self._extract_zip(Path(path), dest)
        elif tarfile.is_tarfile(path):
            self._extract_tar(Path(path), dest)
        else:
            raise Refused("neither a zip nor a tar archive")

    def _extract_zip(self, path: Path, dest: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
            infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            raise Refused(f"not a readable zip ({type(exc).__name__}: {safe_text(exc, 120)})") from None
        with archive:
            for info in infos:
                clean, why = check_zip_entry(info, self.budget)
                if clean is None:
                    if why:
                        self.notes.append((safe_text(entry_name(info)), why))
                    continue
                if info.file_size > self.max_member_bytes:
                    self.notes.append((clean, f"larger than {self.max_member_bytes} bytes; not unpacked"))
                    continue
                try:
                    data = read_zip_entry(archive, info)
                except Exception as exc:  # CRC error, unsupported compression, truncated entry
                    self.notes.append((clean, f"could not be read from the zip ({safe_text(exc, 120)}); "
                                              "download the export again"))
                    continue
                self._write(dest, clean, data, Member(clean, len(data), _zip_local_time(info), _zip_utc_time(info)))

    def _extract_tar(self, path: Path, dest: Path) -> None:
        with tarfile.open(path, "r:*") as archive:
            for info in archive:
                clean, why = clean_path(info.name)
                if clean is None:
                    self.notes.append((safe_text(info.name), f"{why}; not unpacked"))
                    continue
                if info.isdir():
                    continue
                if not info.isreg():
                    self.notes.append((clean, "a link or special file; not unpacked"))
                    continue
                self.budget.members += 1
                if self.budget.members > MAX_MEMBERS or info.size > self.max_member_bytes \
                        or self.budget.total + info.size > MAX_TOTAL_BYTES:
                    self.notes.append((clean, "over the bounds on files and sizes; not unpacked"))
                    continue
                self.budget.total += info.size
                data = archive.extractfile(info).read(info.size + 1)
                stamp = datetime.fromtimestamp(info.mtime, timezone.utc) if info.mtime else None
                self._write(dest, clean, data, Member(clean, len(data), None, stamp))

    def _write(self, dest: Path, clean: str, data: bytes, member: Member) -> None:
        if clean in self.members:
            self.notes.append((clean, "a second entry of the same name in the export; the first was kept"))
            return
        target = dest.joinpath(*clean.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o600)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            self.notes.append((clean, "clashes with a folder or file of the same name in the export; not unpacked"))
            return
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self.members[clean] = member


# -- the collector plug point ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Identity:
    """Who the LMS says a file belongs to (whatever of it the layout carries)."""

    lms_id: str = ""  # the LMS's own key: Canvas user id, Moodle participant id, Gradescope SID, Blackboard username
    name: str = ""  # the full name as the LMS wrote it
    email: str = ""
    sortable: str = ""  # Canvas: "lastfirst" as it sanitises it


@dataclasses.dataclass
class Parsed:
    """What a layout's file name (and its metadata) says about one file of the export."""

    owners: list  # [Identity]: one, or each member of a group submission
    name: str  # the file's own name (what the student uploaded), written as it is
    attempt: tuple = ()  # orders one student's attempts in this export (larger: later)
    attempt_label: str = ""
    time: datetime | None = None  # the LMS's submission time, with its zone
    time_source: str = ""
    lms_late: bool | None = None  # the LMS's own "late" mark, where the layout has one
    slot: str = ""  # files of one attempt with the same slot are versions of one file...
    version: tuple = ()  # ...and the largest version is the one the student meant (Canvas's -N)


class LMSCollector(FileNameCollectorPlugin):
    """nbgrader's ``FileNameCollectorPlugin`` for one LMS layout (subclassed per LMS).

    ``parse(rel)`` reads one file's path (relative to the unpacked export) and returns a
    ``Parsed`` or None; ``collect(path)`` is nbgrader's entry point and returns its dict
    (``student_id``, ``file_id``, ``timestamp``). ``prepare(root)`` reads the layout's
    metadata files (Gradescope's yml, Blackboard's receipts) once.
    """

    lms = "files"
    layout = ""  # the layout, in words (for messages)
    source = ""  # where the layout is documented
    time_note = ""  # what the layout says about submission times
    needs_roster = False  # its ids are not stable across assignments (Moodle)

    valid_ext = List([], help="Extensions collected (empty: every file).").tag(config=True)
    root = Unicode("", help="The unpacked export (file names are read relative to it).").tag(config=True)

    ways = ("lms_id", "id", "email", "name")  # how owners are matched with the roster, in order

    def __init__(self, zone=None, **kwargs):
        super().__init__(**kwargs)
        self.zone = zone  # tzinfo for times the layout writes without a zone (--timezone)
        self.problems: list[tuple[str, str]] = []  # metadata files that could not be read
        self._prepared = False

    def prepare(self, root: Path) -> None:
        self.root = str(root)
        self._prepared = True

    def is_metadata(self, rel: str) -> bool:
        return False

    def parse(self, rel: str) -> Parsed | None:
        raise NotImplementedError

    def why_not(self, rel: str) -> str:
        return f"not named as {self.layout}"

    def collect(self, submitted_file: str) -> dict | None:
        """nbgrader's entry point: the student (the LMS's id), the file's name and time."""
        path = Path(submitted_file)
        if not self._prepared:
            self.prepare(Path(self.root) if self.root else path.parent)
        if self.valid_ext and path.suffix not in self.valid_ext:
            return None
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            rel = path.name
        if self.is_metadata(rel):
            return None
        parsed = self.parse(rel)
        if parsed is None or not parsed.owners:
            return None
        owner = parsed.owners[0]
        return {"student_id": owner.lms_id or owner.email, "file_id": parsed.name,
                "timestamp": parsed.time, "first_name": owner.name, "email": owner.email}


def parts_of(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p]


def stem_and_ext(name: str) -> tuple[str, str]:
    p = PurePosixPath(name)
    return (p.stem, p.suffix) if p.suffix else (name, "")
