"""Stage `collect`: an LMS bulk download (zip or folder) -> submitted/<student>/<assignment>/.

``python -m course collect ASSIGNMENT EXPORT [--lms canvas|moodle|gradescope|blackboard|folder]
[--roster roster.csv] [--times times.csv] [--zip-times] [--timezone ZONE]``

1. The export is archived first, by content: ``build/collect/archive/<sha256>.zip`` (a
   folder: a tar of its regular files, ``<sha256>.tar``). Nothing of the export is lost,
   whatever happens next; everything after reads the archived copy.
2. It is unpacked by nbgrader's extractor plug point without trusting it
   (``course.lms.base.SafeExtractor``: no links, no ``..`` or absolute names, bounded
   sizes and counts, zip bombs refused), and each file is read by the layout's collector
   plug point (``course/lms/<lms>.py``, an nbgrader ``FileNameCollectorPlugin``; the layout
   is detected by its names when ``--lms`` is not given).
3. Each file goes to a student through the roster (``--roster``, a CSV
   ``id,lms_id,first_name,last_name,email``, imported into the gradebook; without it the
   gradebook's students, or the LMS's own ids): see ``course/lms/roster.py``.
4. A student's latest attempt is collected; earlier attempts (and files an attempt
   superseded, Canvas's ``name-1.ext``) are kept in ``build/collect/<assignment>/older/``.
   A student's own zip is unpacked (same rules). Notebooks and other files are written
   into ``submitted/<student>/<assignment>/`` under their own names (intake recognises
   notebooks by content, so "Copy of X.ipynb" is fine); empty files, unreadable notebooks
   and another assignment's notebooks (checked against the releases in ``assignments/``)
   are not, and are reported. A student's folder is replaced only when its content changes
   (the old one goes to ``older/<student>/replaced-<hash>/``), and never by a submission
   older than the one collected before.
5. The submission time, where the export has one (Gradescope's yml, Blackboard's receipts),
   or from ``--times`` (a CSV ``id`` or ``lms_id``, ``submitted_at``), or with
   ``--zip-times`` the entries' own times, goes into the collector's record
   ``build/collected/<assignment>.json`` ({student: ISO 8601 time}), which intake turns into
   nbgrader's submission timestamp. Canvas and Moodle write the time they made the zip into
   its entries, not the submission time, so entry times are used only when asked for.
6. Due dates: ``course.toml`` ``[grading] due_dates.<assignment> = "2026-12-01T23:59:00+00:00"``
   is written into the gradebook's assignment (where nbgrader's ``AssignLatePenalties``
   reads it) by ``course.gradebook.sync_due_date``, which the grading preflight runs too
   (so grading needs no ``collect`` to know it); without one, a due date set with
   ``nbgrader db assignment add ASSIGNMENT --duedate=...`` is used as it is. The penalty
   is ``course.late.LatePenalty``, nbgrader's late-submission plugin, configured from
   course.toml in nbgrader_config.py. A student's extension (course.toml ``[grading]
   extensions.<assignment>.<student>``, course/extensions.py) moves that student's due date
   in the report; grading writes it into the gradebook's submission.
7. The report (what matched, what did not and why, who on the roster submitted nothing,
   times, lateness and extensions, and extensions given to ids in neither the roster nor the
   export) is printed and written to ``build/collect/<assignment>.json``.

Re-running with the same export changes nothing: same archive, same submitted/ tree (files
are not rewritten), same record and report. Bad input (no such assignment or export, not a
zip, an unusable roster or times file) stops before anything is written, with the file and
what to do.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from autograder.recognise import classify, release_signatures
from course import ROOT
from course.late import penalty_words
from course.lock import CourseBusy, course_lock


# -- bad input ------------------------------------------------------------------------------
class CollectError(Exception):
    """Input collect cannot use; the message names the file and what to do."""


def _rel(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _parse_time(text: str, zone, where: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CollectError(f"{where}: {text!r} is not an ISO 8601 time such as 2026-12-01T23:59:00+00:00") from None
    if stamp.tzinfo is None:
        if zone is None:
            raise CollectError(f"{where}: {text!r} has no UTC offset; add one (e.g. +00:00) or pass --timezone")
        stamp = stamp.replace(tzinfo=zone)
    return stamp


def read_times(path: Path, zone) -> dict[str, datetime]:
    """{id or lms_id: time} from a CSV with ``id`` and/or ``lms_id`` and ``submitted_at``."""
    from course.lms.base import safe_text

    shown = safe_text(path)
    try:
        text = Path(path).read_bytes()[: 16 * 1024 * 1024].decode("utf-8-sig")
    except OSError as exc:
        raise CollectError(f"{shown}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CollectError(f"{shown}: not UTF-8; save it as 'CSV UTF-8'") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if "submitted_at" not in header or not ({"id", "lms_id"} & set(header)):
        raise CollectError(f"{shown}: needs the columns submitted_at and id (or lms_id); "
                           f"found {safe_text(','.join(header)) or 'nothing'}")
    out = {}
    for row in reader:
        value = (row.get("submitted_at") or "").strip()
        if not value:
            continue
        stamp = _parse_time(value, zone, f"{shown}, line {reader.line_num}")
        for key in ("id", "lms_id"):
            who = (row.get(key) or "").strip()
            if who:
                out[who] = stamp
    return out


def due_date(root: Path, assignment: str) -> tuple[datetime | None, str]:
    """(the due date of ``assignment``, where it comes from): course.toml, else the gradebook
    (``course.gradebook.due_date``, read only)."""
    from course.gradebook import DueDateError
    from course.gradebook import due_date as find_due_date

    try:
        return find_due_date(root, assignment)
    except DueDateError as exc:
        raise CollectError(str(exc)) from None


# -- archiving ------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tar_folder(folder: Path, dest: Path, notes: list) -> None:
    """A deterministic tar of the regular files under ``folder`` (sorted, no link followed)."""
    from course.lms.base import MAX_MEMBER_BYTES, MAX_MEMBERS, MAX_PARTS, MAX_TOTAL_BYTES, clean_path, safe_text

    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        rel_top = Path(top).relative_to(folder).as_posix()
        prefix = "" if rel_top == "." else rel_top + "/"
        if prefix.count("/") >= MAX_PARTS:
            notes.append((safe_text(prefix), "folders nested too deep; not read"))
            dirs[:] = []
            continue
        for name in sorted(dirs):
            if os.path.islink(os.path.join(top, name)):
                notes.append((safe_text(prefix + name), "a symbolic link; not followed"))
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        for name in files:
            found.append((prefix + name, os.path.join(top, name)))
    count = total = 0
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in sorted(found):
            clean, why = clean_path(rel)
            if clean != rel:
                notes.append((safe_text(rel), f"{why or 'an unusable name'}; not read"))
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                notes.append((rel, "a symbolic link or unreadable file; not read (nothing it points to is "
                                   "collected)"))
                continue
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):
                    notes.append((rel, "a special file (FIFO, socket or device); not read"))
                    continue
                count += 1
                if count > MAX_MEMBERS or info.st_size > MAX_MEMBER_BYTES or total + info.st_size > MAX_TOTAL_BYTES:
                    notes.append((rel, "over the bounds on files and sizes; not read"))
                    continue
                data = f.read(MAX_MEMBER_BYTES + 1)
            total += len(data)
            item = tarfile.TarInfo(rel)
            item.size, item.mtime, item.mode = len(data), int(info.st_mtime), 0o644
            item.uid = item.gid = 0
            item.uname = item.gname = ""
            tar.addfile(item, io.BytesIO(data))


def archive_export(root: Path, export: Path, kind: str) -> tuple[str, Path, list]:
    """(sha256, the archived copy, notes) of the export, archived before anything is unpacked."""
    folder = Path(root) / "build" / "collect" / "archive"
    folder.mkdir(parents=True, exist_ok=True)
    notes: list = []
    partial = folder / f".incoming-{os.getpid()}"
    try:
        if kind == "zip":
            shutil.copyfile(export, partial)
            ext = ".zip"
        else:
            _tar_folder(export, partial, notes)
            ext = ".tar"
        digest = _sha256_file(partial)
        dest = folder / f"{digest}{ext}"
        if dest.exists() and _sha256_file(dest) == digest:
            partial.unlink()
        else:
            os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return digest, dest, notes


# -- notebooks: this assignment's, another's, or not one ---------------------------------------
# -- the run ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Item:
    rel: str  # path in the export
    parsed: object  # course.lms.base.Parsed
    lms_id: str


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _folder_files(folder: Path) -> dict[str, bytes] | None:
    """{name: bytes} of a submission folder made only of regular files; None if anything else is in it."""
    out = {}
    try:
        for entry in os.scandir(folder):
            if not entry.is_file(follow_symlinks=False):
                return None
            with open(os.path.join(folder, entry.name), "rb") as f:
                out[entry.name] = f.read()
    except OSError:
        return None
    return out


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        if path.is_file() and not path.is_symlink():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _record_time(value) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("time")
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


@dataclasses.dataclass
class _Run:
    """What every student's collection needs (see ``collect``)."""

    root: Path
    assignment: str
    lms: str
    top: Path  # the unpacked export
    older: Path  # build/collect/<assignment>/older
    digest: str
    extractor: object
    collector: object
    signatures: list
    record: dict
    due: datetime | None
    extensions: dict  # {student: timedelta} of course.toml [grading] extensions.<assignment>
    times: dict
    times_name: str
    zip_times: bool
    zone: object
    unmatched: list
    ignored: int = 0
    budget: object = None

    def refuse(self, origin: str, sid: str, why: str) -> None:
        self.unmatched.append({"file": origin, "student": sid, "why": why})


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _choose(items: list[Item]) -> tuple[list[Item], list[Item], list[tuple[Item, str]]]:
    """(the latest attempt, its files to collect, [(file kept aside, why)]).

    The latest attempt by the layout's order; of files of that attempt that are versions of
    one file (Canvas's name-1.ext), the latest version."""
    attempts: dict[tuple, list[Item]] = {}
    for item in items:
        attempts.setdefault(item.parsed.attempt, []).append(item)
    order = sorted(attempts)
    chosen = attempts[order[-1]]
    aside = [(i, f"an earlier attempt ({i.parsed.attempt_label or 'attempt'}) than "
                 f"{chosen[0].parsed.attempt_label or 'the one collected'}") for a in order[:-1] for i in attempts[a]]
    slots: dict[str, list[Item]] = {}
    for item in chosen:
        slots.setdefault(item.parsed.slot or item.parsed.name, []).append(item)
    keep = []
    for slot, versions in sorted(slots.items()):
        versions.sort(key=lambda i: (i.parsed.version, i.rel))
        keep.append(versions[-1])
        aside += [(i, f"superseded by {versions[-1].rel} (a later version of {slot})") for i in versions[:-1]]
    return chosen, keep, aside


def _submission_time(run: _Run, sid: str, chosen: list[Item], entry: dict) -> datetime | None:
    """The attempt's time: the export's own, else --times, else (--zip-times) its entries'."""
    from course.extensions import describe
    from course.lms.base import safe_text

    stamp, source = chosen[0].parsed.time, chosen[0].parsed.time_source
    if stamp is None:
        for key in [sid] + sorted({i.lms_id for i in chosen if i.lms_id}):
            if key in run.times:
                stamp, source = run.times[key], f"--times {safe_text(run.times_name)}"
                break
    if stamp is None and run.zip_times:
        found = []
        for item in chosen:
            member = run.extractor.members.get(item.rel)
            if member and member.utc_time:
                found.append(member.utc_time)
            elif member and member.local_time and run.zone is not None:
                found.append(member.local_time.replace(tzinfo=run.zone))
        if found:
            stamp, source = max(found), "the export's entry times (--zip-times)"
        else:
            entry["notes"].append("--zip-times: its entries have no time with a zone; pass --timezone")
    marks = [i.parsed.lms_late for i in chosen if i.parsed.lms_late is not None]
    lms_late = any(marks) if marks else None
    entry.update({"time": stamp.isoformat() if stamp else None, "time_source": source or None,
                  "lms_late": lms_late})
    due, lms = run.due, run.lms
    if due is not None and sid in run.extensions:  # the student's own due date (course/extensions.py)
        entry["extension"] = describe(run.extensions[sid], due)
        due = due + run.extensions[sid]
    if stamp and due:
        entry["late_seconds"] = max(0, int((stamp - due).total_seconds()))
    if stamp is None and due is not None and not lms_late:
        entry["notes"].append(f"no submission time, so no late penalty ({run.collector.time_note})")
    if lms_late and stamp is None:
        entry["notes"].append(f"{lms} marks it late but gives no time: no late penalty unless its time "
                              "is given (--times)")
    elif lms_late is not None and stamp and due and lms_late != (stamp > due):
        entry["notes"].append(f"{lms} marks it {'late' if lms_late else 'on time'}, its time {stamp.isoformat()} "
                              f"and the due date say otherwise ({lms} may have an extension or override for "
                              "this student)")
    return stamp


def _files_to_write(run: _Run, sid: str, keep: list[Item], entry: dict) -> dict[str, tuple[bytes, str, str]]:
    """{name: (bytes, where it came from, "notebook" | "other")}: the student's zips unpacked,
    empty files, unreadable notebooks and other assignments' notebooks left out (reported)."""
    from course.lms.base import MAX_DEPTH, Refused, is_junk, safe_text, usable_name, zip_bytes_members

    out: dict[str, tuple[bytes, str, str]] = {}
    queue = [(item.parsed.name, (run.top / item.rel).read_bytes(), item.rel, 0) for item in keep]
    while queue:
        name, data, origin, depth = queue.pop(0)
        if name.lower().endswith(".zip") and data:
            if depth >= MAX_DEPTH - 1:
                run.refuse(origin, sid, f"a zip nested more than {MAX_DEPTH} deep; not unpacked")
                continue
            notes: list = []
            try:
                members = zip_bytes_members(data, origin, run.budget, notes)
            except Refused as exc:
                run.refuse(origin, sid, f"{exc}; ask the student to upload it again")
                continue
            for label, why in notes:
                run.refuse(label, sid, why)
            for path, body, _ in members:
                if is_junk(path):
                    run.ignored += 1
                else:
                    queue.append((path.rsplit("/", 1)[-1], body, f"{origin}/{path}", depth + 1))
            continue
        if not usable_name(name):
            run.refuse(origin, sid, "a file name that cannot be written as it is")
            continue
        if not data:
            run.refuse(origin, sid, "empty (0 bytes): the LMS holds nothing for it; ask the student to upload it again")
            continue
        what = "other"
        if name.lower().endswith(".ipynb"):
            what, detail = classify(data, run.signatures, run.assignment)
            if what == "corrupt":
                run.refuse(origin, sid, f"not a readable notebook ({detail}): ask the student to download it again "
                                        "(Colab: File > Download > Download .ipynb)")
                continue
            if what == "foreign":
                run.refuse(origin, sid, f"a notebook of assignment {detail}, not of {run.assignment}: not collected "
                                        "here (collect it with that assignment's export)")
                continue
            if what == "unrecognised":
                entry["notes"].append(f"{safe_text(name)}: a notebook with nothing of the release of "
                                      f"{run.assignment}; collected, intake decides")
            what = "notebook"
        if name in out:
            run.refuse(origin, sid, f"same name as {out[name][1]}, which was collected")
            continue
        out[name] = (data, origin, what)
    return out


def _write_folder(run: _Run, sid: str, files: dict[str, bytes], entry: dict) -> str:
    """Put ``files`` in submitted/<sid>/<assignment>/ unless they are already there; the status."""
    student_dir = run.root / "submitted" / sid
    target = student_dir / run.assignment
    if student_dir.is_symlink() or (student_dir.exists() and not student_dir.is_dir()) or \
            target.is_symlink() or (target.exists() and not target.is_dir()):
        entry["notes"].append(f"submitted/{sid}/{run.assignment} (or its student folder) is a link or a file: "
                              "remove it and run again")
        return "refused"
    if target.is_dir() and _folder_files(target) == files:
        return "unchanged"
    incoming = student_dir / f".{run.assignment}.collecting"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    for name, data in sorted(files.items()):
        (incoming / name).write_bytes(data)
    if target.exists():
        dest = run.older / sid / f"replaced-{_tree_digest(target)[:12]}"
        if dest.exists():  # the same content was kept before
            shutil.rmtree(target)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), str(dest))
        entry["notes"].append(f"the earlier submitted/{sid}/{run.assignment} is kept in {_rel(run.root, dest)}")
    os.replace(incoming, target)
    return "written"


def _collect_student(run: _Run, sid: str, items: list[Item], entry: dict) -> None:
    """Collect one student's files of the export (see ``collect``); fills ``entry`` (the report's)."""
    from course.lms.base import Budget

    run.budget = run.budget or Budget()
    entry.update({"time": None, "time_source": None, "lms_late": None, "late_seconds": None, "status": "",
                  "files": [], "older": [], "notes": []})
    chosen, keep, aside = _choose(items)
    stamp = _submission_time(run, sid, chosen, entry)
    earlier = _record_time(run.record.get(sid))
    if earlier and stamp and earlier > stamp and (run.root / "submitted" / sid / run.assignment).is_dir():
        # never replace a later submission collected before
        aside += [(i, f"older than the submission collected before ({earlier.isoformat()})") for i in keep]
        keep = []
        entry.update({"status": "kept earlier collection", "time": earlier.isoformat(),
                      "time_source": "an earlier collection", "late_seconds": None})
    for item, why in sorted(aside, key=lambda a: a[0].rel):
        dest = run.older / sid / run.digest[:12] / item.rel
        _write_if_changed(dest, (run.top / item.rel).read_bytes())
        entry["older"].append({"file": item.rel, "kept": _rel(run.root, dest), "why": why})
    if entry["status"]:
        return
    out = _files_to_write(run, sid, keep, entry)
    if not out:
        entry["status"] = "nothing usable"
        return
    entry["status"] = _write_folder(run, sid, {name: data for name, (data, _, _) in out.items()}, entry)
    entry["files"] = [{"file": origin, "to": f"submitted/{sid}/{run.assignment}/{name}", "kind": what}
                      for name, (_, origin, what) in sorted(out.items())]
    if entry["status"] == "written":
        if stamp is not None:
            run.record[sid] = stamp.astimezone(timezone.utc).isoformat()
        else:
            run.record.pop(sid, None)
    elif entry["status"] == "unchanged":
        if stamp is not None:
            run.record[sid] = stamp.astimezone(timezone.utc).isoformat()
        elif sid in run.record:
            entry.update({"time": run.record[sid], "time_source": "an earlier collection of the same files"})
    if not any(f["kind"] == "notebook" for f in entry["files"]):
        entry["notes"].append(f"no notebook of {run.assignment} among its files: graded as the release")


def collect(root: Path, assignment: str, export: Path, **options) -> dict:
    """Collect ``export`` into submitted/ (see the module doc); returns the report.

    Not while another run (autograde, collect) works on the course: ``CourseBusy``."""
    with course_lock(root, "collect"):
        return _collect(Path(root), assignment, export, **options)


def _collect(root: Path, assignment: str, export: Path, *, lms: str | None = None, roster: Path | None = None,
             times: Path | None = None, zip_times: bool = False, zone: str | None = None, log=print) -> dict:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from course.config import settings
    from course.extensions import configured_extensions
    from course.gradebook import DueDateError, db_url, sync_due_date
    from course.lms import LAYOUTS, detect
    from course.lms.base import Refused, SafeExtractor, is_junk, safe_text
    from course.lms.roster import RosterError, gradebook_roster, import_roster, read_roster, usable_id

    root = Path(root)
    # 1. inputs, all checked before anything is written
    if not usable_id(assignment) or not any((root / "assignments" / assignment).glob("*.ipynb")):
        known = sorted(p.name for p in (root / "assignments").iterdir() if p.is_dir()) \
            if (root / "assignments").is_dir() else []
        raise CollectError(f"assignments/{safe_text(assignment)} has no release notebooks (collect checks "
                           f"submissions against the release): run `./course.sh release`, or use one of: "
                           f"{', '.join(known) or 'none'}")
    export = Path(export)
    if export.is_symlink():
        export = export.resolve()
    if export.is_file() and zipfile.is_zipfile(export):
        kind = "zip"
    elif export.is_dir():
        kind = "folder"
        sub = (root / "submitted").resolve()
        if export.resolve() == sub or sub in export.resolve().parents or export.resolve() in sub.parents:
            raise CollectError(f"{safe_text(export)}: is (or holds) submitted/ itself; give the LMS's download")
    elif export.exists():
        raise CollectError(f"{safe_text(export)}: not a zip file or a folder (the LMS's bulk download is a .zip; "
                           "download it again if it was cut short)")
    else:
        raise CollectError(f"{safe_text(export)}: no such file or folder")
    if lms is not None and lms not in LAYOUTS:
        raise CollectError(f"--lms {safe_text(lms)}: not one of {', '.join(LAYOUTS)}")
    tz = None
    if zone:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CollectError(f"--timezone {safe_text(zone)}: not a time zone name such as Europe/Paris") from None
    try:
        roster_obj = read_roster(roster, assignment) if roster else None
    except RosterError as exc:
        raise CollectError(str(exc)) from None
    time_table = read_times(times, tz) if times else {}
    due, due_source = due_date(root, assignment)
    try:
        extensions = configured_extensions(root, assignment, due)
    except DueDateError as exc:
        raise CollectError(str(exc)) from None
    grading = settings(root).get("grading", {})
    url = db_url(root)
    if (root / "submitted").is_symlink():
        raise CollectError("submitted/ is a link; make it a folder of this course")
    if roster_obj is None:
        roster_obj = gradebook_roster(url)

    # 2. archive, then unpack the archived copy
    digest, archived, archive_notes = archive_export(root, export, kind)
    log(f"[collect] {assignment}: {safe_text(export)} archived as {_rel(root, archived)}")
    base = root / "build" / "collect" / assignment
    work = base / ".work"
    shutil.rmtree(work, ignore_errors=True)
    report = {"assignment": assignment, "export": {"given": str(export), "kind": kind, "sha256": digest,
                                                   "archive": _rel(root, archived)}}
    try:
        extractor = SafeExtractor()
        try:
            extractor.extract_archive(archived, work / "export")
        except Refused as exc:
            raise CollectError(f"{safe_text(export)}: {exc}; download it again (it is archived as "
                               f"{_rel(root, archived)})") from None
        top = work / "export"
        paths = sorted(extractor.members)
        if lms is None:
            lms, why = detect(paths)
            report["lms"], report["lms_detected"] = lms, why
        else:
            report["lms"], report["lms_detected"] = lms, None
        collector = LAYOUTS[lms](zone=tz)
        collector.prepare(top)
        if collector.needs_roster and roster_obj is None:
            raise CollectError(f"{lms} ids are per assignment: give the class roster with --roster roster.csv "
                               "(columns id,lms_id,first_name,last_name,email)")
        report.update({"layout": collector.layout, "layout_source": collector.source,
                       "roster": roster_obj.source if roster_obj else None,
                       "due": due.isoformat() if due else None, "due_source": due_source or None,
                       "late_penalty": penalty_words(grading), "times": collector.time_note})
        unmatched = [{"file": f, "why": w} for f, w in archive_notes + extractor.notes + collector.problems]
        ignored = 0
        students: dict[str, dict] = {}
        owned: dict[str, list[Item]] = {}
        for rel in paths:
            if is_junk(rel):
                ignored += 1
                continue
            if collector.is_metadata(rel):
                continue
            parsed = collector.parse(rel)
            if parsed is None or not parsed.owners:
                unmatched.append({"file": rel, "why": collector.why_not(rel) if parsed is None
                                  else "no owner in the export's metadata"})
                continue
            for who in parsed.owners:
                if roster_obj is not None:
                    student, how = roster_obj.match(who, collector.ways)
                    sid = student.id if student else None
                else:
                    student, key = None, who.lms_id or who.email
                    sid, how = (key, "the LMS's id (no roster)") if key and usable_id(key) else \
                        (None, f"no roster, and the LMS's id {safe_text(key)!r} cannot be a student id")
                if sid is None:
                    hint = " (the roster is the gradebook's students: give --roster roster.csv with their lms_id)" \
                        if roster_obj is not None and roster is None else ""
                    unmatched.append({"file": rel, "why": f"unknown student: {how}{hint}"})
                    continue
                entry = students.setdefault(sid, {"lms_id": who.lms_id, "name": (student.name if student else "")
                                                  or who.name or who.sortable, "matched_by": how})
                if how not in entry["matched_by"].split(", "):
                    entry["matched_by"] += f", {how}"
                owned.setdefault(sid, []).append(Item(rel, parsed, who.lms_id))

        record_path = root / "build" / "collected" / f"{assignment}.json"
        run = _Run(root=root, assignment=assignment, lms=lms, top=top, older=base / "older", digest=digest,
                   extractor=extractor, collector=collector, signatures=release_signatures(root / "assignments"),
                   record=_read_record(record_path), due=due, extensions=extensions, times=time_table,
                   times_name=Path(times).name if times else "", zip_times=zip_times, zone=tz, unmatched=unmatched)
        for sid in sorted(owned):
            _collect_student(run, sid, owned[sid], students[sid])
        record, ignored = run.record, ignored + run.ignored
        report["students"] = {sid: students[sid] for sid in sorted(owned)}
        report["unmatched"] = sorted(unmatched, key=lambda u: (u["file"], u["why"]))
        report["missing"] = sorted(s.id for s in roster_obj.students if s.id not in owned) if roster_obj else []
        known = {s.id for s in roster_obj.students} if roster_obj else set()
        # An extension for an id that is neither in the roster nor in this export is most likely a typo.
        report["extensions_unknown"] = sorted(set(extensions) - known - set(owned))
        report["ignored"] = ignored
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # 3. the record, the gradebook, the report
    record_path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(record_path, (json.dumps(dict(sorted(record.items())), indent=2) + "\n").encode())
    if due_source == "course.toml":
        sync_due_date(root, assignment, url)  # as the grading preflight does
    if roster is not None:
        import_roster(roster_obj, url)
    path = root / "build" / "collect" / f"{assignment}.json"
    _write_if_changed(path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    show(report, log)
    log(f"[collect] report: {_rel(root, path)}; submission times: {_rel(root, record_path)}")
    return report


def show(report: dict, log=print) -> None:
    """The report, on screen: one line per student, unmatched file and missing student."""
    from course.lms.base import safe_text

    a = report["assignment"]
    how = f"detected: {report['lms_detected']}" if report.get("lms_detected") else "--lms"
    log(f"[collect] {a}: {report['lms']} layout ({how}); students matched through "
        f"{report.get('roster') or 'the LMS ids (no roster)'}")
    log(f"[collect] due: {report['due'] + ' (' + report['due_source'] + ')' if report.get('due') else 'none set'}; "
        f"{report['late_penalty']}")
    for sid, s in report["students"].items():
        files = ", ".join(f"{f['to'].rsplit('/', 1)[-1]} <- {safe_text(f['file'], 80)}" for f in s["files"])
        when = "no time" if not s["time"] else s["time"] + (f" ({s['time_source']})" if s["time_source"] else "")
        late = ""
        if s.get("late_seconds"):
            late = f", LATE by {s['late_seconds'] / 3600:.2f} h"
        elif s.get("late_seconds") == 0:
            late = ", on time"
        if s.get("extension"):
            late += f" (extension {s['extension']})"
        log(f"[collect]   {sid} ({safe_text(s['name']) or '?'}): {s['status']}: {files or 'no file'}; {when}{late}")
        for older in s["older"]:
            log(f"[collect]     kept aside: {safe_text(older['file'], 100)}: {older['why']}")
        for note in s["notes"]:
            log(f"[collect]     note: {note}")
    for u in report["unmatched"]:
        who = f" ({u['student']})" if u.get("student") else ""
        log(f"[collect]   NOT COLLECTED{who}: {safe_text(u['file'], 120)}: {u['why']}")
    if report["missing"]:
        log(f"[collect]   no submission from: {', '.join(report['missing'])}")
    if report.get("extensions_unknown"):
        log(f"[collect]   course.toml gives extensions to ids in neither the roster nor this export (a typo?): "
            f"{', '.join(safe_text(s) for s in report['extensions_unknown'])}")
    counts = {}
    for s in report["students"].values():
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    log(f"[collect] {a}: {len(report['students'])} student(s) ("
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f"), {len(report['unmatched'])} file(s) not "
        f"collected, {len(report['missing'])} roster student(s) without a submission; every file stays in "
        f"{report['export']['archive']}")


def main(argv: list[str]) -> int:
    from course.lms import LAYOUTS

    parser = argparse.ArgumentParser(prog="python -m course collect",
                                     description="An LMS bulk download (zip or folder) -> submitted/, with "
                                                 "submission times, a roster and a report.")
    parser.add_argument("assignment")
    parser.add_argument("export", help="the LMS's bulk download: a .zip, or the folder it was unpacked into")
    parser.add_argument("--lms", choices=sorted(LAYOUTS), help="the export's layout (default: detected by its names)")
    parser.add_argument("--roster", type=Path,
                        help="CSV id,lms_id,first_name,last_name,email (imported into the gradebook); a column "
                             "lms_id:<assignment> overrides lms_id for one assignment")
    parser.add_argument("--times", type=Path,
                        help="CSV id (or lms_id),submitted_at: submission times the export does not carry "
                             "(Canvas, Moodle)")
    parser.add_argument("--zip-times", action="store_true",
                        help="take submission times from the export's entries (only for exports whose entries hold "
                             "them: Canvas and Moodle write the time they made the zip)")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="time zone of times written without one (Blackboard's attempt times, zip entries), "
                             "e.g. America/New_York")
    args = parser.parse_args(argv)
    try:
        collect(ROOT, args.assignment, args.export, lms=args.lms, roster=args.roster, times=args.times,
                zip_times=args.zip_times, zone=args.timezone)
    except CollectError as exc:
        print(f"[collect] cannot collect: {exc}", file=sys.stderr)
        return 2
    except CourseBusy as exc:
        print(f"[collect] not started: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
