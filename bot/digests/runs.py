"""Scheduled digest runs: exactly once per period, across processes, restarts and crashes.

The job mechanism hands a due digest job to one process at a time. On top of that, each
period has a run record (`digest_run/<team>:<channel>:<due>`), created only if absent before
anything is posted: a second holder of the same period (after a lease ran out) sees it and
does not post again. A run that crashed while posting is checked against the channel (the
post carries the period in its metadata) before posting. A period missed while every process
was down is made up if the bot is back within DIGEST_GRACE_S, else skipped with a log line.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.digests.posting import CannotPost, compose, find_posted, post_digest
from bot.digests.schedule import Rule
from bot.digests.schedules import JOB_KIND, get_schedule
from bot.jobs import Done, RunAgain
from bot.jobs.runner import Outcome
from bot.logs import get_logger
from bot.services import Services
from storage.jobs import Job

log = get_logger("digests.runs")

RUN_KIND = "digest_run"
RUN_TTL_S = 9 * 86_400
FINAL = frozenset({"posted", "quiet", "failed"})


def register_jobs(services: Services) -> None:
    """Let this process run digest jobs."""

    async def handler(job: Job) -> Outcome:
        return await run_scheduled(services, job)

    services.jobs.register(JOB_KIND, handler)


def titles(rule: Rule, due: float) -> tuple[str, str]:
    """(header title, period wording) for a run of `rule` due at `due`."""
    local = datetime.fromtimestamp(due, ZoneInfo(rule.zone))
    kind = "Daily" if rule.kind == "daily" else "Weekly"
    period = "last 24 hours" if rule.kind == "daily" else "last 7 days"
    return f"{kind} digest · {local:%a %d %b %Y}", period


async def run_scheduled(services: Services, job: Job) -> Outcome:
    """Run one period of a channel's schedule (at most once), then wait for the next."""
    team, channel = str(job.data["team"]), str(job.data["channel"])
    due = float(job.data["due"])
    schedule = await get_schedule(services, team, channel)
    if schedule is None or schedule.id != job.data.get("schedule"):
        log.info("digest_schedule_gone", channel=channel)
        return Done()
    now = services.jobs.clock()
    upcoming = schedule.rule.next_after(max(due, now))
    again = RunAgain(upcoming, {**job.data, "due": upcoming})
    late = now - due
    if late > services.settings.digest_grace_s:
        log.warning("digest_missed_skipped", channel=channel, due=due, late_s=round(late),
                    grace_s=services.settings.digest_grace_s)
        return again
    period_key = f"{int(due)}"
    run_id = f"{team}:{channel}:{period_key}"
    records = services.store.records
    mine = {"status": "started", "owner": services.owner, "token": job.token}
    if not await records.create(RUN_KIND, run_id, mine, RUN_TTL_S):
        run = await records.get(RUN_KIND, run_id) or {}
        if run.get("status") in FINAL:
            log.info("digest_already_done", channel=channel, status=run.get("status"))
            return again
        if run.get("status") == "posting":
            posted = await find_posted(services, channel, period_key, due)
            if posted is not None:
                await records.update(RUN_KIND, run_id, {"status": "posted", "ts": posted})
                log.info("digest_found_posted", channel=channel)
                return again
        # The previous holder died (its lease ran out); this holder takes the period over.
        await records.update(RUN_KIND, run_id, {"owner": services.owner, "token": job.token})
        log.info("digest_run_taken_over", channel=channel, previous=run.get("owner"))
    title, period = titles(schedule.rule, due)
    try:
        composed = await compose(services, team, channel, due - schedule.rule.window_s, due,
                                 title, period)
    except CannotPost as why:
        log.warning("digest_cannot_run", channel=channel, reason=str(why))
        await records.update(RUN_KIND, run_id, {"status": "failed", "reason": str(why)})
        return again
    if composed is None:
        log.info("digest_quiet_channel", channel=channel, period=period)
        await records.update(RUN_KIND, run_id, {"status": "quiet"})
        return again
    await records.update(RUN_KIND, run_id, {"status": "posting"})
    try:
        ts = await post_digest(services, channel, composed, period_key)
    except CannotPost as why:
        log.warning("digest_cannot_post", channel=channel, reason=str(why))
        await records.update(RUN_KIND, run_id, {"status": "failed", "reason": str(why)})
        return again
    await records.update(RUN_KIND, run_id, {"status": "posted", "ts": ts})
    log.info("digest_posted", channel=channel, messages=composed.messages,
             people=composed.people, input_chars=composed.input_chars,
             history_calls=composed.reading.history_calls)
    return again
