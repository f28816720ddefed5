"""Fixtures of the pipeline tests: a real PostgreSQL server."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from course.bench import pg_binary
from tests.net import free_port




_CONTROL: dict = {}  # url -> {"start": argv, "stop": argv}


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL server for this module (Debian's postgresql, installed by .ci/run)."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="dlcourse-pg-"))  # pytest's folders are 0700 root: not for postgres
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(prefix + [initdb, "-D", str(data), "-U", "grader", "--auth=trust"], check=True,
                   capture_output=True)
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                             f"-p {port} -k {sock} -c listen_addresses=''", "start"], check=True, capture_output=True)
    url = f"postgresql://grader@/postgres?host={sock}&port={port}"
    control = {"start": prefix + [pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                  f"-p {port} -k {sock} -c listen_addresses=''", "start"],
               "stop": prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]}
    _CONTROL[url] = control
    yield url
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_control(postgres):
    """{"start": argv, "stop": argv} of the ``postgres`` server, for tests that take it away for a moment."""
    return _CONTROL[postgres]
