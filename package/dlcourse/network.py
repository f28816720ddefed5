"""Is the network there? One quick check shared by the loaders that may download.

``host_answers(host)`` is False at once when ``DLCOURSE_OFFLINE`` is set (graders, CI),
else True when a TCP connection to ``host``:443 opens within ``NETWORK_TIMEOUT`` seconds.
"""
from __future__ import annotations

import os
import socket
import threading

NETWORK_TIMEOUT = 3.0  # seconds; an offline machine must not hang the notebook
OFFLINE_ENV = "DLCOURSE_OFFLINE"  # set to 1 to never try the network


def offline_forced() -> bool:
    """True when ``DLCOURSE_OFFLINE`` is set to anything but empty or 0."""
    return os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0")


def host_answers(host: str, timeout: float = NETWORK_TIMEOUT) -> bool:
    """True when a TCP connection to ``host``:443 opens within ``timeout`` seconds.

    The look-up runs in a daemon thread, so a hanging DNS resolver cannot block us.
    """
    if offline_forced():
        return False
    result = []

    def attempt():
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except Exception:  # any failure means: no usable network
            pass

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result)
