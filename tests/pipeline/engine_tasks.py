"""Stand-in grading tasks for engine tests, importable by Dask worker processes."""
from __future__ import annotations

import time


def sleepy(task, timeout=None):
    """A task that takes ``task["seconds"]`` and says which worker ran it, and when."""
    from distributed import get_worker

    started = time.time()
    time.sleep(task["seconds"])
    return {"assignment": task["assignment"], "student": task["student"], "notes": [], "ok": True,
            "worker": get_worker().address, "started": started, "ended": time.time()}
