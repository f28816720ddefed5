"""Network helpers shared by the tests."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: free to serve on, or to fail against
    (connection refused). The probe socket is closed on return, so another process could
    in principle take the port in between."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
