"""A local on-disk journal of accepted messages the store could not take (Redis down).

An event the bot acked is the bot's to keep: Slack will not send it again. When Redis does not
answer, the message is written here (one small JSON file per message, atomically, fsynced) and
replayed once Redis is back. Several processes may share the directory: a file is replayed by
whoever holds its `flock`, and deleted once the turn is safely queued in the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SpoolEntry:
    """One spooled message, locked by this process while it is being replayed."""

    path: Path
    message: dict[str, Any]
    note_ts: str | None = None
    spooled_at: float = 0.0
    dead_owner: str | None = None
    """The process that acked it and died before the store had it (its claim may be left)."""
    fd: int | None = field(default=None, repr=False)


class Spool:
    """The journal: `keep` a message, `take` entries to replay, then `drop` or `release` each."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._taken: set[Path] = set()

    def _path(self, idem_key: str) -> Path:
        return self.directory / (hashlib.sha256(idem_key.encode()).hexdigest()[:24] + ".json")

    def keep(self, idem_key: str, message: dict[str, Any], note_ts: str | None = None,
             dead_owner: str | None = None) -> Path:
        """Write (or merge into) the message's entry; two deliveries of one message share it."""
        path = self._path(idem_key)
        entry: dict[str, Any] = {"message": message, "note_ts": note_ts, "spooled_at": time.time(),
                                 "dead_owner": dead_owner}
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(path.read_text())
            # app_mention and message.* of one message: keep "mentioned" and the first note.
            merged = dict(old.get("message") or {})
            merged["mentioned"] = bool(merged.get("mentioned")) or bool(message.get("mentioned"))
            entry = {"message": merged, "note_ts": old.get("note_ts") or note_ts,
                     "spooled_at": old.get("spooled_at") or entry["spooled_at"],
                     "dead_owner": old.get("dead_owner") or dead_owner}
        self._write(path, entry)
        return path

    def has(self, idem_key: str) -> bool:
        """Whether a message is spooled already (its note was posted once)."""
        return self._path(idem_key).exists()

    def set_note(self, path: Path, note_ts: str) -> None:
        """Remember the "delayed" note posted for an entry (the answer will replace it)."""
        with contextlib.suppress(OSError, ValueError):
            entry = json.loads(path.read_text())
            entry["note_ts"] = note_ts
            self._write(path, entry)

    def _write(self, path: Path, entry: dict[str, Any]) -> None:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("w") as fh:
            json.dump(entry, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def pending(self) -> int:
        """How many messages wait in the journal (any process's)."""
        return sum(1 for _ in self.directory.glob("*.json"))

    def take(self) -> list[SpoolEntry]:
        """Entries not being replayed by anyone, oldest first, each locked for this process."""
        found: list[SpoolEntry] = []
        for path in sorted(self.directory.glob("*.json")):
            if path in self._taken:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not path.exists():  # dropped by another process meanwhile
                    raise FileNotFoundError(path)
                raw = json.loads(path.read_text())
            except (OSError, ValueError):
                os.close(fd)
                continue
            self._taken.add(path)
            found.append(SpoolEntry(path=path, message=dict(raw.get("message") or {}),
                                    note_ts=raw.get("note_ts"),
                                    spooled_at=float(raw.get("spooled_at") or 0.0),
                                    dead_owner=raw.get("dead_owner"), fd=fd))
        return sorted(found, key=lambda e: (e.spooled_at, str(e.message.get("ts"))))

    def drop(self, entry: SpoolEntry) -> None:
        """The store has the message now: delete the entry."""
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        self.release(entry)

    def release(self, entry: SpoolEntry) -> None:
        """Give the entry back (to be replayed again later)."""
        self._taken.discard(entry.path)
        if entry.fd is not None:
            os.close(entry.fd)
            entry.fd = None
