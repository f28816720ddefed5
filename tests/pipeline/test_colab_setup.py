"""The released setup cells in a simulated Colab runtime with no network.

Colab is simulated by a stand-in ``google.colab`` package imported before the cells run
(the setup cell takes the Colab path when ``google.colab`` is in sys.modules) and a
closed network: HTTP(S) proxies point at a closed local port, so pip, git and the data
downloads fail at once, as they do on a runtime that cannot reach GitHub or the data
servers. Only 127.0.0.1 is reachable, where a test may serve the course site's wheel.

Each run executes the released setup cell and the cell after it (the notebook's imports),
as a Colab kernel would, in a fresh Python process; "the notebook goes on" means the
imports cell ran. Three runtimes:

- every release, in a runtime where dlcourse is already installed: nothing is installed,
  each failed download says the offline stand-in will be used, the notebook goes on;
- a runtime without dlcourse (a fresh venv with Colab's other packages): the install from
  the repository fails, the wheel served by the course site is installed instead, with
  one message; a re-run and a "restarted runtime" (new process) install nothing again;
  with Google Drive mounted the data root and the working folder are in Drive;
- the same without any reachable source: one message naming both sources and pip's
  reason, then the helper's own ImportError, never a CalledProcessError.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from course import ROOT
from course import wheel as helper_wheel
from course.cells import refresh_setup_cell
from course.sitecheck import serve
from tests.net import free_port

pytestmark = pytest.mark.e2e  # an end-to-end run: ./course.sh test-e2e

RELEASES = sorted((ROOT / "assignments").glob("*/*.ipynb"))
FAKE_COLAB = {
    "google/__init__.py": "",
    "google/colab/__init__.py": '"""Stand-in for Colab\'s google.colab (tests only)."""\n',
    "google/colab/drive.py": ("import os\n\ndef mount(path, force_remount=False):\n"
                              "    os.makedirs(os.path.join(path, 'MyDrive'), exist_ok=True)\n"),
}
# Runs the cells given as JSON on argv[1] in one namespace, as one kernel would.
RUNNER = """
import json, sys, traceback
import google.colab  # what Colab has imported before any cell runs
cells = json.loads(open(sys.argv[1]).read())
ns = {"__name__": "__main__"}
for i, src in enumerate(cells):
    try:
        exec(compile(src, f"<cell {i}>", "exec"), ns)
    except BaseException as exc:
        print(f"CELL {i} RAISED {type(exc).__name__}: {exc}")
        sys.exit(3)
    print(f"CELL {i} DONE")
import os
print("CWD", os.getcwd())
print("DLCOURSE_DATA", os.environ.get("DLCOURSE_DATA", ""))
"""


def setup_and_imports(path: Path) -> tuple[str, str]:
    """(setup cell, the code cell after it) of a released notebook."""
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(code) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    return code[index].source, code[index + 1].source


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """(folder with the stand-in google.colab, environment of a network-less runtime)."""
    base = tmp_path_factory.mktemp("colab")
    for rel, text in FAKE_COLAB.items():
        (base / "fake" / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / "fake" / rel).write_text(text)
    (base / "runner.py").write_text(RUNNER)
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLCOURSE_", "NBGRADER_", "PIP_"))}
    env.update({
        "PYTHONPATH": str(base / "fake"),
        "HOME": str(base / "home"),  # the default data root, ~/.dlcourse/data, starts empty
        "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
        "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
        "PIP_NO_INDEX": "1",  # no package index either: what pip needs must be there already
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "MPLBACKEND": "Agg",
    })
    return base, env


def run_cells(python: str, cells: list[str], base: Path, env: dict, name: str, cwd: Path | None = None):
    spec = base / f"{name}.json"
    spec.write_text(json.dumps(cells))
    cwd = cwd or base
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([python, str(base / "runner.py"), str(spec)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_every_source_setup_cell_is_the_template():
    """Is the setup cell of every source notebook course.cells.SETUP_TEMPLATE (with its own
    DATASETS), so that a change of the template reaches every release?"""
    sources = sorted((ROOT / "source").glob("*/*.ipynb"))
    assert len(sources) == len(RELEASES) >= 8
    for path in sources:
        nb = nbformat.read(str(path), as_version=4)
        before = [c.source for c in nb.cells]
        changed = refresh_setup_cell(nb)
        assert not changed, (f"{path}: the setup cell differs from SETUP_TEMPLATE; rewrite it with "
                             "course.cells.refresh_setup_cell, then run ./course.sh answers and release")
        assert [c.source for c in nb.cells] == before


@pytest.mark.parametrize("path", RELEASES, ids=[p.parent.name for p in RELEASES])
def test_setup_cell_goes_on_offline_with_dlcourse_installed(path, colab):
    """With dlcourse already installed, does the setup cell install nothing, say which data
    fall back to the offline stand-in, and let the notebook's imports run?"""
    base, env = colab
    setup, imports = setup_and_imports(path)
    datasets = eval(re.search(r"^DATASETS = (\[.*?\])", setup, flags=re.M).group(1))  # noqa: S307 -- our own release
    proc = run_cells(sys.executable, [setup, imports], base, env, path.stem)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "CELL 0 DONE" in out and "CELL 1 DONE" in out
    assert "Installed the course helper package" not in out and "Could not install" not in out
    for name in datasets:
        assert f"Could not download {name}; the notebook will use the offline stand-in." in out
    assert ("The data are kept in this runtime only" in out) == bool(datasets)  # no data, no advice
    assert re.search(r"^dlcourse [\d.]+; fast grading mode: False$", out, flags=re.M)
    assert "CalledProcessError" not in out + proc.stderr


@pytest.fixture
def colab_without_dlcourse(colab, tmp_path):
    """A fresh venv holding Colab's other packages (links to this environment's), not dlcourse."""
    base, env = colab
    venv = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    shared = tmp_path / "colab-packages"
    shared.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "dlcourse" not in entry.name and not entry.name.endswith(".pth"):
            (shared / entry.name).symlink_to(entry)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "colab_packages.pth").write_text(str(shared) + "\n")
    python = str(venv / "bin" / "python")
    probe = subprocess.run([python, "-c", "import importlib.util, numpy; print(importlib.util.find_spec('dlcourse'))"],
                           capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "None", probe.stdout + probe.stderr
    return python


@pytest.fixture(scope="module")
def site_with_wheel(tmp_path_factory):
    """The course site's downloads/ folder with the helper wheel, served on 127.0.0.1."""
    site = tmp_path_factory.mktemp("site")
    wheel = helper_wheel.build(ROOT, site)
    with serve(site) as base:
        yield f"{base}{helper_wheel.FOLDER}/{wheel.name}"


def with_wheel(setup: str, url: str) -> str:
    """The setup cell as released, but with the course site at ``url`` (the test's server)."""
    assert re.search(r'^COURSE_WHEEL = "https://', setup, flags=re.M), "the release must write the wheel URL"
    return re.sub(r'^COURSE_WHEEL = "[^"]*"', f'COURSE_WHEEL = "{url}"', setup, flags=re.M)


def test_setup_cell_falls_back_to_the_wheel_of_the_course_site(colab, colab_without_dlcourse, site_with_wheel):
    """Without dlcourse and without GitHub, does the cell install the site's wheel, with one
    message, and is a re-run or a restarted runtime safe (no second install)?"""
    base, env = colab
    setup, imports = setup_and_imports(ROOT / "assignments" / "captioning" / "captioning.ipynb")
    setup = with_wheel(setup, site_with_wheel)
    proc = run_cells(colab_without_dlcourse, [setup, imports, setup], base, env, "wheel")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.count("Installed the course helper package from the course site.") == 1  # not on the re-run
    assert "Could not install" not in out
    assert "CELL 1 DONE" in out and "CELL 2 DONE" in out
    assert "Could not download coco_captioning; the notebook will use the offline stand-in." in out
    restarted = run_cells(colab_without_dlcourse, [setup, imports], base, env, "restart")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "Installed the course helper package" not in restarted.stdout and "CELL 1 DONE" in restarted.stdout


def test_setup_cell_keeps_data_and_files_in_a_mounted_drive(colab):
    """With Google Drive mounted first, do the data root and the working folder move into Drive,
    and back out of it when the cell runs again after Drive is gone?"""
    base, env = colab
    drive = base / "content" / "drive"
    setup, imports = setup_and_imports(ROOT / "assignments" / "gan" / "generative_adversarial_networks.ipynb")
    assert re.search(r'^DRIVE = "/content/drive/MyDrive"', setup, flags=re.M)
    setup = re.sub(r'^DRIVE = "[^"]*"', f'DRIVE = "{drive}/MyDrive"', setup, flags=re.M)
    mount = f"from google.colab import drive\ndrive.mount({str(drive)!r})"
    proc = run_cells(sys.executable, [mount, setup, imports], base, env, "drive")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    data, work = drive / "MyDrive" / "dlcourse" / "data", drive / "MyDrive" / "dlcourse" / "work"
    assert f"Google Drive is mounted: data in {data}, files written to {work}." in out
    assert f"DLCOURSE_DATA {data}" in out and f"CWD {work}" in out
    assert work.is_dir()
    # Drive unmounted (gone, with the working folder in it), then the cell run again:
    # nothing may still point into Drive.
    unmount = f"import shutil\nshutil.rmtree({str(drive)!r})"
    again = run_cells(sys.executable, [mount, setup, unmount, setup], base, env, "unmounted")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "The data are kept in this runtime only" in again.stdout
    assert "DLCOURSE_DATA \n" in again.stdout and f"CWD {base / 'content'}\n" in again.stdout


def test_setup_cell_without_any_source_says_why_in_one_message(colab, colab_without_dlcourse):
    """With neither GitHub nor the site reachable, is there one message with pip's reasons,
    then the helper's ImportError (not a CalledProcessError), and no notebook code run?"""
    base, env = colab
    setup, imports = setup_and_imports(ROOT / "assignments" / "captioning" / "captioning.ipynb")
    setup = with_wheel(setup, f"http://127.0.0.1:{free_port()}/downloads/{helper_wheel.filename(ROOT)}")
    proc = run_cells(colab_without_dlcourse, [setup, imports], base, env, "nothing")
    out = proc.stdout
    assert proc.returncode == 3, out + proc.stderr
    assert out.count("Could not install the course helper package (is this runtime online?)") == 1
    reasons = re.findall(r"^  (the course repository|the course site): (.+)$", out, flags=re.M)
    assert [where for where, _ in reasons] == ["the course repository", "the course site"], out
    assert all(why.strip() for _, why in reasons)
    assert "CELL 0 RAISED ImportError: The course helper package is missing" in out
    assert "CELL 1" not in out and "CalledProcessError" not in out + proc.stderr
