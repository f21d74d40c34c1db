"""Write-ahead journal of messages being acked: a crash after the ack cannot lose them.

Slack does not resend an event it got a 200 for, yet the message reaches the store only after
the ack (a store round trip before every ack would cost more than the whole ack here). So
before the ack, each message that may be a turn is written here, one file per delivery,
`flock`ed by the process that acked it; once the store (or the spool) has the message, the
file is deleted. A file whose lock is free belongs to a process that died: `recover` moves it
into the spool, which replays it (claims make a second answer impossible).

Files are not fsynced: they survive the process, not the machine, for a few system calls per
event.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.logs import get_logger
from bot.spool import Spool

log = get_logger("journal")

STALE_TMP_S = 60.0
"""A half-written file older than this was left by a crash before its ack: removed."""


@dataclass
class Held:
    """One journaled delivery, locked by this process until `Journal.done`."""

    path: Path
    fd: int = field(repr=False)


class Journal:
    """The journal directory: `hold` before the ack, `done` once the store or spool has it."""

    def __init__(self, directory: str | Path, owner: str = "") -> None:
        self.directory = Path(directory)
        self.owner = owner
        """This process's claim owner, noted in each entry (a dead holder's claim is freed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._held: set[str] = set()
        self._seq = itertools.count()

    def hold(self, idem_key: str, message: dict[str, Any]) -> Held | None:
        """Journal a message (None, logged, if the disk refuses: the ack must not fail)."""
        name = f"{time.time_ns()}-{os.getpid()}-{next(self._seq)}"
        tmp = self.directory / f"{name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            log.error("journal_write_failed", error=type(exc).__name__)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # before it is visible as *.json
            entry = {"idem_key": idem_key, "message": message, "owner": self.owner}
            os.write(fd, json.dumps(entry).encode())
            path = tmp.with_suffix(".json")
            os.replace(tmp, path)  # the lock stays: it is on the open file, not the name
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.error("journal_write_failed", error=type(exc).__name__)
            return None
        self._held.add(path.name)
        return Held(path=path, fd=fd)

    def done(self, held: Held) -> None:
        """The store (or the spool) has the message: forget the journal entry."""
        with contextlib.suppress(FileNotFoundError):
            held.path.unlink()
        self.let_go(held)

    def let_go(self, held: Held) -> None:
        """Unlock an entry without deleting it: `recover` (here or elsewhere) replays it."""
        self._held.discard(held.path.name)
        with contextlib.suppress(OSError):
            os.close(held.fd)

    def held(self) -> int:
        """How many deliveries this process has journaled and not yet handed on."""
        return len(self._held)

    def recover(self, spool: Spool) -> int:
        """Move entries left by dead processes into the spool; how many were moved."""
        moved = 0
        try:
            names = sorted(os.listdir(self.directory))  # oldest first: names start with ns
        except OSError:
            return 0
        for name in names:
            path = self.directory / name
            if name.endswith(".tmp"):
                self._remove_if_stale(path)
            elif name.endswith(".json") and name not in self._held and self._move(path, spool):
                moved += 1
        if moved:
            log.warning("journal_recovered", messages=moved)
        return moved

    def _move(self, path: Path, spool: Spool) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not path.exists():  # done, or moved by another process, meanwhile
                return False
            entry = json.loads(path.read_text())
            spool.keep(str(entry["idem_key"]), dict(entry["message"]),
                       dead_owner=entry.get("owner") or None)
            path.unlink()
            return True
        except BlockingIOError:
            return False  # its process is alive and still handing it on
        except (ValueError, KeyError, TypeError):
            log.error("journal_entry_unreadable", file=path.name, exc_info=True)
            with contextlib.suppress(OSError):
                path.rename(path.with_suffix(".bad"))  # kept for a person, not retried
            return False
        except OSError:
            log.warning("journal_move_failed", file=path.name, exc_info=True)
            return False
        finally:
            os.close(fd)

    @staticmethod
    def _remove_if_stale(path: Path) -> None:
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > STALE_TMP_S:
                path.unlink()
