"""A throwaway `redis-server` on a free local port, for tests when REDIS_URL is not set."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.support.ports import free_port

_START_ATTEMPTS = 3
"""A free port can be taken between choosing it and redis binding it: retry on a new one."""


class RedisServerError(RuntimeError):
    """The throwaway redis-server could not be found or started."""


def _answers_ping(port: int) -> bool:
    """Whether a Redis server on `port` replies +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
            return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


class RedisServer:
    """Runs `redis-server` (no persistence, loopback only) in a temp dir until stopped."""

    def __init__(self, binary: str | None = None, start_timeout_s: float = 10.0,
                 extra_args: list[str] | None = None) -> None:
        found = shutil.which(binary or os.environ.get("REDIS_SERVER_BIN") or "redis-server")
        if not found:
            raise RedisServerError(
                "redis-server not found on PATH: install it (e.g. `apt-get install redis-server`), "
                "set REDIS_SERVER_BIN, or point REDIS_URL at a disposable Redis database"
            )
        self.binary = found
        self.start_timeout_s = start_timeout_s
        self.extra_args = list(extra_args or [])
        """More redis-server options (e.g. --requirepass, --tls-port)."""
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of the running server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self._tmp = tempfile.TemporaryDirectory(prefix="gs-redis-")
        last_log = ""
        for _ in range(_START_ATTEMPTS):
            self.port = free_port()
            if self._spawn():
                return self
            last_log = self._log_tail()
        self.stop()
        raise RedisServerError(f"redis-server did not start; last log:\n{last_log}")

    def _spawn(self) -> bool:
        """Run redis-server on `self.port` in the temp dir; True once it answers PING."""
        assert self._tmp is not None
        log_path = Path(self._tmp.name) / f"redis-{self.port}.log"
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", self._tmp.name, *self.extra_args]
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        if self._wait_ready():
            return True
        self._terminate()
        return False

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        log_path = Path(self._tmp.name) / f"redis-{self.port}.log"
        return log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""

    def halt(self, *, keep_data: bool = True) -> None:
        """Stop the server like an outage: its data saved to disk (or thrown away)."""
        proc = self._proc
        if proc is None:
            return
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"SHUTDOWN SAVE\r\n" if keep_data else b"SHUTDOWN NOSAVE\r\n")
            with contextlib.suppress(OSError):
                sock.recv(64)
        proc.wait(timeout=10)
        self._proc = None
        if not keep_data and self._tmp is not None:
            (Path(self._tmp.name) / "dump.rdb").unlink(missing_ok=True)

    def freeze(self) -> None:
        """Pause the server (SIGSTOP): connections stay open, nothing is answered."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def resume(self) -> None:
        """Start the server again on the same port and data dir (after `halt`)."""
        deadline = time.monotonic() + self.start_timeout_s
        while not self._spawn():  # the port may linger briefly after the old process exits
            if time.monotonic() > deadline:
                raise RedisServerError(f"redis-server did not restart:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server and delete its temp dir (safe to call twice)."""
        self._terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _wait_ready(self) -> bool:
        """Poll PING until it answers, the process dies, or the start timeout passes."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if _answers_ping(self.port):
                return True
            time.sleep(0.02)
        return False

    def _terminate(self) -> None:
        """Stop the child process (SIGTERM, then SIGKILL after 5 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a frozen server could not act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
