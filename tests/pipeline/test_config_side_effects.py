"""Loading the course's configuration runs nothing: no preflight, no exit, no PATH edit.

Every nbgrader app (and the formgrader's server) loads nbgrader_config.py; importing the
``course`` package happens in every worker. Both must only define things. The preflight
of plain ``nbgrader autograde`` runs from its pre-convert hook instead
(tests/pipeline/test_hostile_grading.py grades a fresh clone through it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from course import ROOT

PROBE = textwrap.dedent("""
    import json, os, sys
    sys.argv = ["nbgrader", "autograde", "no_such_assignment"]
    path_before = os.environ["PATH"]
    import course.preflight
    calls = []
    course.preflight.prepare = lambda *a, **k: calls.append(a)
    from traitlets.config import Config
    c = Config()
    code = open(os.path.join(ROOT_PATH, "nbgrader_config.py")).read()
    exec(compile(code, "nbgrader_config.py", "exec"), {"get_config": lambda: c,
                                                       "__file__": os.path.join(ROOT_PATH, "nbgrader_config.py")})
    print(json.dumps({"prepare_calls": len(calls), "path_changed": os.environ["PATH"] != path_before,
                      "hook": callable(c.Autograde.pre_convert_hook)}))
""")


def test_loading_the_configuration_and_the_package_changes_nothing():
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    env.pop("COURSE_SKIP_PREFLIGHT", None)
    proc = subprocess.run([sys.executable, "-c", PROBE.replace("ROOT_PATH", repr(str(ROOT)))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"prepare_calls": 0, "path_changed": False, "hook": True}
