"""A real Jupyter server with nbgrader's formgrader, for the browser tests of a course folder.

``formgrader_server(root, home)`` starts ``jupyter_server`` in ``root`` (so it reads the
course's nbgrader_config.py, as an instructor's formgrader does) on 127.0.0.1 with a
random token and only the formgrader extension, and yields ``{"base", "token", "log"}``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.net import free_port

EXTENSIONS = {
    "nbgrader.server_extensions.formgrader": True,  # the rest is not needed here
    "nbgrader.server_extensions.assignment_list": False, "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.validate_assignment": False, "jupyterlab": False, "notebook": False,
    "notebook_shim": False, "jupyter_lsp": False, "jupyter_server_terminals": False,
}


@contextlib.contextmanager
def formgrader_server(root: Path, home: Path, startup_seconds: float = 60):
    """The formgrader of the course at ``root``; ``home`` holds its config, runtime files and log."""
    home = Path(home)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_DATA_DIR=str(home / "data"), HOME=str(home),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": EXTENSIONS}}))
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={root}"] + ["--allow-root"] * (os.geteuid() == 0),
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((home / "server.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield {"base": base, "token": token, "log": home / "server.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
