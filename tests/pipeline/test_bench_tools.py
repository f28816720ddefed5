"""The pieces `./course.sh bench` measures with (course/bench.py, course/task.py).

The submissions of ``--parallel`` carry real PNG figures of the size asked for; the
phases of a grading run are read from the timeline its log holds; ``--postgres`` starts
a PostgreSQL of its own that the gradebook can use, and removes it.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil

import nbformat
import pytest
from PIL import Image

from course import ROOT
from course.bench import local_postgres, with_figures
from course.task import phases


def test_submissions_carry_real_figures_of_the_size_asked_for():
    release = next((ROOT / "assignments" / "captioning").glob("*.ipynb")).read_bytes()
    data = with_figures(release, 1024, seed=3)
    nb = nbformat.reads(data.decode(), as_version=4)
    nbformat.validate(nb)
    figures = [out["data"]["image/png"] for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert len(figures) == 4
    png = [base64.b64decode(f) for f in figures]
    assert all(Image.open(io.BytesIO(p)).format == "PNG" for p in png)
    assert 0.9 * 1024 * 1024 < sum(map(len, png)) < 1.1 * 1024 * 1024  # random pixels do not compress
    assert with_figures(release, 1024, seed=4) != data  # each student's figures differ
    assert with_figures(release, 0, seed=3) == release


def test_phases_are_read_from_the_grading_timeline():
    log = ("[AutogradeApp | INFO] grading timeline: execute=100.500 kernel_ready=100.900 cells_done=103.900 "
           "executed=104.000\n[AutogradeApp | INFO] grading timeline: compare=104.050 compared=104.150\n")
    got = phases(log, spawned=100.0, ended=104.600)
    assert got == {"total": 4.6, "start-up": 0.5, "kernel start": 0.4, "cells": 3.0, "kernel stop": 0.1,
                   "compare": 0.1, "rest": 0.5}
    assert phases("no timeline (the run failed early)", 1.0, 3.0) == {"total": 2.0}


def test_a_throwaway_postgresql_holds_a_gradebook_and_goes_away():
    if not (shutil.which("initdb") or list(__import__("pathlib").Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    from course.gradebook import open_gradebook

    with local_postgres() as server:
        url = server.database("bench_test")
        with open_gradebook(url) as gb:
            gb.add_student("someone")
            assert [s.id for s in gb.students] == ["someone"]
        assert server.database("bench_test") == url  # made afresh: empty again
        with open_gradebook(url) as gb:
            assert gb.students == []
        base = server.base
    assert not base.exists()
    json.dumps(url)  # a plain string, for the environment


def test_the_preflight_looks_for_the_cifar_stand_in_where_its_maker_puts_it(tmp_path, monkeypatch):
    """course.config.prepare_offline_data skips importing dlcourse.data.cifar (torchvision)
    when the stand-in's completion marker is there: the marker it names must be the one
    make_offline_cifar10 writes last, in the folder ensure_offline_cifar10 checks."""
    import inspect

    from dlcourse.data import cifar

    from course import config

    source = inspect.getsource(config.prepare_offline_data)
    assert f'"cifar10_offline" / "{cifar.BASE_FOLDER}" / "{cifar.OFFLINE_MARKER}"' in source
    assert '"cifar10_offline"' in inspect.getsource(cifar.ensure_offline_cifar10)
    maker = inspect.getsource(cifar.make_offline_cifar10)
    assert maker.rindex("(base / OFFLINE_MARKER).write_text(") > max(maker.rindex("pickle.dump("),
                                                                   maker.rindex("open("))  # the marker comes last
    made = []
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(cifar, "make_offline_cifar10", lambda folder=None: made.append(folder))
    for name in ("ensure_offline_coco", "ensure_offline_cola"):
        module = __import__({"ensure_offline_coco": "dlcourse.data.offline_coco",
                             "ensure_offline_cola": "dlcourse.data.cola"}[name], fromlist=[name])
        monkeypatch.setattr(module, name, lambda *a, **k: None)
    config.prepare_offline_data()
    assert made == [tmp_path / "cifar10_offline"]  # missing: made
    marker = tmp_path / "cifar10_offline" / cifar.BASE_FOLDER / cifar.OFFLINE_MARKER
    marker.parent.mkdir(parents=True)
    marker.write_text("done")
    config.prepare_offline_data()
    assert len(made) == 1  # there: left alone
