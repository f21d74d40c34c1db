"""Digest schedules: one per channel, stored as a record plus a job due at its next fire time.

Record `digest_schedule/<team>:<channel>` holds the rule and who set it; the index
`digest_schedules:<team>` lists a workspace's scheduled channels; job `digest:<team>:<channel>`
(kind `digest`) is due at the next fire time. A new schedule replaces the old one (same record
id and job id; the job's new token fences off a run of the old one).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from bot.digests.recording import scheduled_channels
from bot.digests.schedule import Rule
from bot.services import Services

JOB_KIND = "digest"
SCHEDULE_KIND = "digest_schedule"
SCHEDULE_TTL_S = 10 * 365 * 86_400
"""Schedules last until removed (the record needs a TTL; this one is ten years)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A channel's digest schedule."""

    id: str
    team: str
    channel: str
    rule: Rule
    created_by: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """The stored record."""
        return {"id": self.id, "team": self.team, "channel": self.channel,
                "rule": self.rule.to_dict(), "created_by": self.created_by,
                "created_at": self.created_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """Inverse of `to_dict`."""
        return cls(str(data["id"]), str(data["team"]), str(data["channel"]),
                   Rule.from_dict(data["rule"]), str(data.get("created_by") or ""),
                   float(data.get("created_at") or 0))


def job_id(team: str, channel: str) -> str:
    """The channel's digest job (one per channel)."""
    return f"digest:{team}:{channel}"


def _index(team: str) -> str:
    return f"digest_schedules:{team}"


async def save_schedule(services: Services, team: str, channel: str, rule: Rule, user: str,
                        *, now: float | None = None) -> tuple[Schedule, float]:
    """Store (or replace) the channel's schedule, start recording it; (schedule, first run)."""
    now = services.jobs.clock() if now is None else now
    schedule = Schedule(uuid.uuid4().hex[:12], team, channel, rule, user, now)
    records = services.store.records
    await records.put(SCHEDULE_KIND, f"{team}:{channel}", schedule.to_dict(), SCHEDULE_TTL_S)
    await records.index_add(_index(team), channel, now)
    if services.settings.digest_recording:
        await services.store.channel_log.start(team, channel, time.time())
        scheduled_channels(services).set(team, channel, True)
    first = rule.next_after(now)
    await services.jobs.schedule(job_id(team, channel), JOB_KIND, first,
                                 {"team": team, "channel": channel, "schedule": schedule.id,
                                  "due": first})
    return schedule, first


async def get_schedule(services: Services, team: str, channel: str) -> Schedule | None:
    """The channel's schedule, or None."""
    raw = await services.store.records.get(SCHEDULE_KIND, f"{team}:{channel}")
    return None if raw is None else Schedule.from_dict(raw)


async def remove_schedule(services: Services, team: str, channel: str) -> bool:
    """Remove the channel's schedule, its job and its record of messages; False if none."""
    existed = await get_schedule(services, team, channel) is not None
    await services.store.records.delete(SCHEDULE_KIND, f"{team}:{channel}")
    await services.store.records.index_remove(_index(team), channel)
    await services.store.jobs.cancel(job_id(team, channel))
    await services.store.channel_log.drop(team, channel)
    scheduled_channels(services).set(team, channel, False)
    return existed


async def list_schedules(services: Services, team: str) -> list[tuple[Schedule, float | None]]:
    """The workspace's schedules with each one's next run (oldest schedule first)."""
    out: list[tuple[Schedule, float | None]] = []
    for channel in await services.store.records.index_list(_index(team), 200,
                                                           newest_first=False):
        schedule = await get_schedule(services, team, channel)
        if schedule is None:
            await services.store.records.index_remove(_index(team), channel)
            continue
        job = await services.store.jobs.get(job_id(team, channel))
        due = float(job.data.get("due", job.due_at)) if job is not None else None
        out.append((schedule, due))
    return out
