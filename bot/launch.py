"""`make run`: one command for everything: a web process plus WORKERS worker processes.

Without REDIS_URL (or with ROLE set) it is just `python -m bot`: one process does it all; so is
it without Slack settings (`python -m bot` then opens the playground or names what is missing).
SIGINT/SIGTERM are passed on to every child; when one child exits, the others are stopped.
Workers run at a lower CPU priority (`WORKER_NICE`, default 10) so a busy worker on the same
machine does not delay the web process's acks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from bot.config import ConfigError, load_settings

PR_SET_PDEATHSIG = 1
"""prctl option: the signal a process gets when its parent dies."""


def main() -> int:
    """Start the processes and wait for them; the exit code of the first one to stop."""
    command = [sys.executable, "-m", "bot"]
    try:
        settings = load_settings()
    except ConfigError:
        # `python -m bot` decides: the playground when no Slack setting is given at all,
        # otherwise the list of what is missing (exit 2).
        os.execv(sys.executable, command)
    if not settings.redis_url or os.environ.get("ROLE"):
        os.execv(sys.executable, command)
    children = [subprocess.Popen(command, env={**os.environ, "ROLE": "web"},
                                 preexec_fn=_die_with_parent)]
    for i in range(settings.workers):
        env = {**os.environ, "ROLE": "worker", "PORT": str(settings.port + 1 + i)}
        niced = _niced(settings.worker_nice)
        children.append(subprocess.Popen(command, env=env, preexec_fn=niced))

    signalled: set[int] = set()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            # Once each: a second SIGTERM could land after a child's handler is gone.
            if child.poll() is None and child.pid not in signalled:
                signalled.add(child.pid)
                child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return next((code for code in codes if code), 0)


def _niced(increment: int) -> Callable[[], None]:
    """Run in a worker child before exec: lower its CPU priority by `increment`."""
    def lower() -> None:
        _die_with_parent()
        if increment:
            os.nice(increment)

    return lower


def _die_with_parent() -> None:
    """Run in a child before exec: get SIGTERM when the launcher dies, even by `kill -9`
    (Linux), so no web or worker is left running, holding its port, without it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
