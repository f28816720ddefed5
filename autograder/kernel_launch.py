"""First code a grading kernel runs, inside its sandbox, before any student code.

``python -m autograder.kernel_launch -f <connection file>`` lowers the resource limits
named in ``$COURSE_SANDBOX_LIMITS`` (set by ``autograder.sandbox``), then starts the
IPython kernel. Hard limits that a process lowers cannot be raised again without
privileges, and the sandbox has none, so no student code can undo them.

``$COURSE_SANDBOX_LIMITS`` is ``name=value`` pairs separated by commas, values in the
unit of ``resource.setrlimit`` (bytes, seconds or a count), for example
``RLIMIT_DATA=6442450944,RLIMIT_NPROC=256``. These are per process; the limits on the
kernel's whole process tree (memory with shared memory and tmpfs counted, processes, CPU
weight) are its cgroup's (``autograder.cgroups``), which it entered before bubblewrap
started. Without cgroups ("rlimits only") the list includes ``RLIMIT_AS``.
"""
from __future__ import annotations

import os
import resource
import sys


def apply_limits(spec: str) -> dict:
    """Set each ``RLIMIT_X=value`` of ``spec`` as soft and hard limit; return them."""
    applied = {}
    for item in filter(None, spec.split(",")):
        name, value = item.split("=", 1)
        limit = int(value)
        soft = limit
        if name == "RLIMIT_CPU":  # SIGXCPU at the soft limit, SIGKILL at the hard one
            limit = limit + 5
        resource.setrlimit(getattr(resource, name), (soft, limit))
        applied[name] = soft
    return applied


def main() -> None:
    apply_limits(os.environ.pop("COURSE_SANDBOX_LIMITS", ""))
    # Grading never debugs: ipykernel's debugger (debugpy, about a fifth of the kernel's
    # start-up imports) is left out; student code can still import debugpy itself.
    sys.modules["debugpy"] = None
    try:
        from ipykernel import debugger  # noqa: F401 (decides now that there is no debugger)
        from ipykernel import kernelapp
    finally:
        del sys.modules["debugpy"]

    sys.argv = [sys.argv[0], *sys.argv[1:]]
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
