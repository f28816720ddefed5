"""The environment's two files agree.

``requirements.in`` lists the direct dependencies, one reason each; ``requirements.txt`` is the
lock ``./course.sh lock`` compiles from it (uv: every package pinned, with the hashes of its
files) and ``./course.sh`` installs with ``pip install --require-hashes --no-deps``. Since the
install takes nothing the lock does not list, the lock must hold every dependency itself.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
IN = ROOT / "requirements.in"
LOCK = ROOT / "requirements.txt"
RELOCK = "run ./course.sh lock"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)")


def lock_entries(text: str) -> tuple[dict[str, tuple[str, set[str]]], list[str]]:
    """({name: (version, hashes)}, lines that are not `name==version --hash=sha256:...`)."""
    entries: dict[str, tuple[str, set[str]]] = {}
    bad = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = PIN.fullmatch(line)
        if not m or not m.group(3):
            bad.append(line)
            continue
        name = canonicalize_name(m.group(1))
        if name in entries:
            bad.append(f"{line} (pinned twice)")
        entries[name] = (m.group(2), set(re.findall(r"sha256:([0-9a-f]{64})", m.group(3))))
    return entries, bad


def direct_requirements() -> list[tuple[Requirement, str]]:
    """(requirement, its reason) for each line of requirements.in."""
    out = []
    for line in IN.read_text().splitlines():
        spec, _, reason = line.partition("#")
        if spec.strip():
            out.append((Requirement(spec.strip()), reason.strip()))
    return out


def excluded() -> set[str]:
    """The packages on "# exclude: NAME" lines of requirements.in (./course.sh lock reads them)."""
    return {canonicalize_name(m) for m in re.findall(r"^# exclude: *(\S+)", IN.read_text(), re.M)}


def pins() -> dict[str, str]:
    return {name: version for name, (version, _) in lock_entries(LOCK.read_text())[0].items()}


def test_the_lock_pins_every_package_to_one_version_with_its_hashes():
    entries, bad = lock_entries(LOCK.read_text())
    assert not bad, f"requirements.txt lines without `==version` and hashes ({RELOCK}): {bad}"
    assert len(entries) > 100  # the whole environment, not just the direct dependencies
    assert all(hashes for _, hashes in entries.values())


def test_the_parser_rejects_what_pip_would_not_install_with_require_hashes():
    entries, bad = lock_entries("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via b\nb==2\nc>=3 --hash=sha256:"
                                + "1" * 64 + "\n-e ./package\n")
    assert entries == {"a": ("1", {"0" * 64})}
    assert bad == ["b==2", "c>=3 --hash=sha256:" + "1" * 64, "-e ./package"]


def test_each_direct_dependency_has_a_reason_and_a_locked_version_it_accepts():
    locked = pins()
    reqs = direct_requirements()
    assert {canonicalize_name(r.name) for r, _ in reqs} >= {"torch", "torchvision", "nbgrader", "jupyter-book",
                                                          "pooch", "uv", "pip"}
    for req, reason in reqs:
        assert len(reason) > 10, f"requirements.in: {req} needs a one-line reason after '#'"
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} (requirements.in) is not in requirements.txt: {RELOCK}"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"requirements.txt pins {name}=={locked[name]}, outside requirements.in's {req}: {RELOCK}"
    assert locked["torch"] == "2.14.1" and locked["torchvision"] == "0.29.1"


def test_the_lock_was_compiled_from_this_requirements_in():
    header = re.search(r"^# from requirements\.in, sha256 ([0-9a-f]{64})", LOCK.read_text(), re.M)
    assert header, "requirements.txt has no `# from requirements.in, sha256 ...` line: " + RELOCK
    assert header.group(1) == hashlib.sha256(IN.read_bytes()).hexdigest(), \
        f"requirements.in changed since requirements.txt was compiled from it: {RELOCK}"


def test_excluded_packages_stay_out_of_the_lock():
    assert "rfc3987-syntax" in excluded()
    assert not excluded() & set(pins())


@pytest.mark.parametrize("pyproject", ["package/pyproject.toml", "pyproject.toml"])
def test_the_packages_installed_without_dependencies_find_theirs_in_the_lock(pyproject):
    """course.sh installs package/ (dlcourse) and the README installs . (the instructor code)
    with --no-deps: whatever their pyproject.toml declares must come from the lock."""
    project = tomllib.loads((ROOT / pyproject).read_text())
    locked = pins()
    direct = {canonicalize_name(req.name) for req, _ in direct_requirements()}
    for spec in project["project"].get("dependencies", []) + project["build-system"]["requires"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in direct, f"{pyproject} needs {req}: list it in requirements.in, then {RELOCK}"
        assert name in locked and req.specifier.contains(locked[name], prereleases=True), \
            f"{pyproject} needs {req}; requirements.txt has {locked.get(name, 'nothing')}: {RELOCK}"


def test_this_environment_is_the_lock_and_the_lock_holds_every_dependency():
    """From the installed packages' own metadata: each locked version is what is installed,
    every dependency that requirements.in pulls in (extras and markers evaluated for this
    interpreter) is locked at a version it accepts, and nothing else is locked."""
    locked = pins()
    # The environment's own packages: the site-packages folders of this interpreter, not the
    # copies other packages vendor (setuptools/_vendor holds older importlib_metadata, zipp,
    # packaging, ... and puts itself on sys.path once setuptools is imported by another test).
    import site
    import sysconfig

    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    dists = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=sorted(roots))}
    stale = {n: (v, dists[n].version if n in dists else None) for n, v in locked.items()
             if n not in dists or dists[n].version != v}
    assert not stale, f"this environment is not requirements.txt's ({{name: (locked, installed)}}: {stale}); " \
                      "./course.sh setup installs it"
    env = default_environment()
    todo = [(req, "requirements.in") for req, _ in direct_requirements()]
    seen: set[tuple[str, str]] = set()
    reached, problems = set(), []
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        if name in excluded():
            continue
        if name not in locked:
            problems.append(f"{parent} needs {req}, not in the lock")
            continue
        if not req.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{parent} needs {req}, the lock has {locked[name]}")
        reached.add(name)
        for extra in {"", *req.extras}:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for spec in dists[name].requires or []:
                dep = Requirement(spec)
                if dep.marker is None or dep.marker.evaluate({**env, "extra": extra}):
                    todo.append((dep, name))
    assert not problems, f"{problems}: {RELOCK}"
    assert not set(locked) - reached, f"locked but needed by nothing in requirements.in: {set(locked) - reached}"


def test_course_sh_installs_the_lock_with_hash_checking():
    install = [line.strip() for line in (ROOT / "course.sh").read_text().splitlines()
               if "pip install" in line and "-r " in line and not line.lstrip().startswith("#")]
    assert install == ['"$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r requirements.txt']


@pytest.mark.slow  # needs the package index; the offline header check above runs in every suite
def test_course_sh_lock_reproduces_the_lock(tmp_path):
    """`./course.sh lock`, run as written on a copy of the two files, compiles the same pins and
    keeps every hash (PyPI may add files to a release later; it does not change old ones)."""
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.fail(f"no uv beside {sys.executable}: ./course.sh setup installs requirements.txt, which has it")
    for name in ("course.sh", "requirements.in", "requirements.txt", "package/pyproject.toml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    # A .venv that course.sh takes as up to date (so the copy never installs anything), whose
    # python and uv are this environment's.
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "python").symlink_to(sys.executable)
    (bin_ / "uv").symlink_to(uv)
    want = hashlib.sha256(LOCK.read_bytes() + (ROOT / "package/pyproject.toml").read_bytes()).hexdigest()
    (tmp_path / ".venv" / ".installed").write_text(want + "\n")
    proc = subprocess.run(["bash", "course.sh", "lock"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    if proc.returncode and re.search(r"(?i)failed to fetch|error sending request|dns|connect|timed out", proc.stderr):
        reason = f"./course.sh lock could not reach the package index: {proc.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert proc.returncode == 0, proc.stderr
    old, _ = lock_entries(LOCK.read_text())
    new, bad = lock_entries((tmp_path / "requirements.txt").read_text())
    assert not bad
    assert {n: v for n, (v, _) in new.items()} == {n: v for n, (v, _) in old.items()}, \
        f"requirements.txt is not what ./course.sh lock compiles from requirements.in: {RELOCK}"
    lost = {n: h - new[n][1] for n, (_, h) in old.items() if h - new[n][1]}
    assert not lost, f"hashes in requirements.txt that the index no longer lists: {lost}"
    assert (tmp_path / "requirements.txt").read_text().splitlines()[2] == LOCK.read_text().splitlines()[2]


def test_a_deprecation_in_our_code_fails_and_a_third_party_one_is_shown():
    """pytest.ini: a DeprecationWarning attributed to this project's modules is an error; one
    attributed to another package is only shown in the warnings summary."""
    import warnings

    with pytest.raises(DeprecationWarning):
        warnings.warn("going away", DeprecationWarning)  # attributed to tests.test_environment
    with pytest.raises(PendingDeprecationWarning):
        warnings.warn_explicit("going away later", PendingDeprecationWarning, "course/x.py", 1, module="course.x")
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn_explicit("elsewhere", DeprecationWarning, "somelib/x.py", 1, module="somelib.x")
    assert [str(w.message) for w in seen] == ["elsewhere"]
