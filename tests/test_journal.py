"""The write-ahead journal: entries held by a live process stay put, a dead one's are spooled."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bot.journal import STALE_TMP_S, Journal
from bot.spool import Spool

MESSAGE = {"team_id": "T1", "channel_id": "C1", "ts": "1700000000.000100", "text": "hi"}


def _spooled(spool: Spool) -> list[dict[str, object]]:
    return [entry.message for entry in spool.take()]


def test_a_held_entry_is_left_alone_by_every_process(tmp_path: Path) -> None:
    mine, other = Journal(tmp_path / "journal"), Journal(tmp_path / "journal")
    spool = Spool(tmp_path)
    held = mine.hold("msg:T1:C1:1", MESSAGE)
    assert held is not None and held.path.exists()
    assert mine.recover(spool) == 0  # its own
    assert other.recover(spool) == 0  # locked by a live holder
    assert spool.pending() == 0
    mine.done(held)
    assert not held.path.exists() and mine.held() == 0
    assert other.recover(spool) == 0 and spool.pending() == 0


def test_an_entry_whose_holder_died_is_moved_into_the_spool_once(tmp_path: Path) -> None:
    dead = Journal(tmp_path / "journal", owner="host-1-dead")
    alive = Journal(tmp_path / "journal", owner="host-2-alive")
    spool = Spool(tmp_path)
    held = dead.hold("msg:T1:C1:1", MESSAGE)
    assert held is not None
    os.close(held.fd)  # what the kernel does when the process dies
    assert alive.recover(spool) == 1
    assert not held.path.exists()
    [entry] = spool.take()
    assert entry.message == MESSAGE
    assert entry.dead_owner == "host-1-dead"  # its claim, if any, may be freed on replay
    spool.release(entry)
    assert alive.recover(spool) == 0  # moved once


def test_an_entry_let_go_at_shutdown_is_replayed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    spool = Spool(tmp_path)
    held = journal.hold("msg:T1:C1:1", MESSAGE)
    assert held is not None
    journal.let_go(held)
    assert journal.recover(spool) == 1
    assert _spooled(spool) == [MESSAGE]


def test_half_written_and_unreadable_files_are_cleared_away(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal = Journal(directory)
    spool = Spool(tmp_path)
    fresh, stale = directory / "1-1-0.tmp", directory / "2-1-0.tmp"
    fresh.write_text("{")
    stale.write_text("{")
    old = time.time() - STALE_TMP_S - 5
    os.utime(stale, (old, old))
    (directory / "3-1-0.json").write_text("not json")
    (directory / "4-1-0.json").write_text(json.dumps({"idem_key": "msg:T1:C1:4",
                                                       "message": MESSAGE}))
    assert journal.recover(spool) == 1
    assert fresh.exists() and not stale.exists()
    assert (directory / "3-1-0.bad").exists()  # kept for a person, never retried
    assert sorted(p.name for p in directory.iterdir()) == ["1-1-0.tmp", "3-1-0.bad"]
    assert _spooled(spool) == [MESSAGE]
