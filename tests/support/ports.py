"""Free TCP ports for the servers tests and benchmarks start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A free port on 127.0.0.1 whose successor is free too (`make run`'s first worker
    listens on PORT+1)."""
    while True:
        with socket.socket() as sock, socket.socket() as after:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            try:
                after.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
            return port
