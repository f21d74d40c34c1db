"""A background run's record: what it is, where its card and result go, how far it got.

The record (in `store.records`, kind `agent_run`) is written before any Slack call that depends
on it, and every step after the start is a fenced update: the process polling the run writes
only while its job claim (fencing token) is the newest, so a process that lost the run to
another can never write over it, and a retry after a crash sees exactly which steps were done.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from bot.services import Services

KIND = "agent_run"
JOB_KIND = "agent_run"
USER_INDEX = "agent_runs:{user}"
RECORD_TTL_S = 35 * 86_400
"""Runs are listed (and their results chained to) for about a month."""

QUEUED = "queued"
"""Recorded, Gemini not asked yet."""
RUNNING = "running"
FINISHED = frozenset({"completed", "failed", "cancelled", "expired", "lost", "start_failed",
                      "incomplete", "budget_exceeded"})
SENDING = "sending"
"""A result part whose post was started: on a retry, look for it in the thread first."""

LABELS = {"agent": "agent task", "research": "research task", "tool": "agent task"}


class Superseded(Exception):
    """Another process took this run over (newer job claim): stop writing to it."""


def new_run_id() -> str:
    """A short unique id for a run (also names its job and its Slack metadata)."""
    return uuid.uuid4().hex[:16]


def job_id(run_id: str) -> str:
    """The poll job's id for a run."""
    return f"agent:{run_id}"


def new_record(*, run_id: str, kind: str, agent: str, task: str, asker: str, team_id: str,
               channel: str, thread_ts: str | None, card_ts: str | None,
               previous_interaction_id: str | None, environment_id: str | None,
               attach: bool, max_runtime_s: float) -> dict[str, Any]:
    """A queued run's record."""
    now = time.time()
    return {
        "run_id": run_id, "kind": kind, "agent": agent, "task": task, "asker": asker,
        "team_id": team_id, "channel": channel, "thread_ts": thread_ts, "card_ts": card_ts,
        "result_thread": thread_ts or card_ts,
        "previous_interaction_id": previous_interaction_id, "environment_id": environment_id,
        "attach": attach, "status": QUEUED, "phase": "", "created_at": now,
        "deadline": now + max_runtime_s, "interaction_id": None, "poll_s": None,
        "next_poll_at": None, "card_edited_at": now, "progress": "", "parts": [],
        "images": [], "result_ts": None, "cancelled_by": None, "error": None, "token": -1,
        "finished_at": None,
    }


async def create_run(services: Services, record: dict[str, Any]) -> None:
    """Store a new run and list it under its asker (before anything is shown in Slack)."""
    records = services.store.records
    await records.create(KIND, record["run_id"], record, RECORD_TTL_S)
    await records.index_add(USER_INDEX.format(user=record["asker"]), record["run_id"],
                            record["created_at"])


async def get_run(services: Services, run_id: str) -> dict[str, Any] | None:
    """The run's record, or None."""
    return await services.store.records.get(KIND, run_id)


async def user_runs(services: Services, user: str, limit: int = 10) -> list[dict[str, Any]]:
    """A person's latest runs, newest first."""
    records = services.store.records
    ids = await records.index_list(USER_INDEX.format(user=user), limit)
    runs = [await records.get(KIND, run_id) for run_id in ids]
    return [r for r in runs if r is not None]


@dataclass
class Fence:
    """Writes to one run's record while holding its job claim (`token`)."""

    services: Services
    run_id: str
    token: int

    @classmethod
    async def take(cls, services: Services, run_id: str, token: int) -> tuple[Fence, dict]:
        """Make `token` the record's fence (it must be the newest); the record as it is now."""
        records = services.store.records
        while True:
            record = await records.get(KIND, run_id)
            if record is None:
                raise Superseded(f"run {run_id} has no record")
            if int(record.get("token", -1)) > token:
                raise Superseded(f"run {run_id} is held by a newer claim")
            updated = await records.update(KIND, run_id, {"token": token},
                                           expect={"token": record.get("token", -1)})
            if updated is not None:
                return cls(services, run_id, token), updated

    async def write(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into the record; Superseded if another process holds the run now."""
        updated = await self.services.store.records.update(KIND, self.run_id, changes,
                                                           expect={"token": self.token})
        if updated is None:
            raise Superseded(f"run {self.run_id} was taken over")
        return updated


def label(record: dict[str, Any]) -> str:
    """How messages name the run ("agent task", "research task")."""
    return LABELS.get(str(record.get("kind")), "agent task")


def elapsed_s(record: dict[str, Any], now: float | None = None) -> float:
    """Seconds the run has been going (until it finished)."""
    end = record.get("finished_at") or (time.time() if now is None else now)
    return max(0.0, float(end) - float(record.get("created_at") or end))


def format_duration(seconds: float) -> str:
    """"45 s", "3 min", "1 h 5 min"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
