"""Starting a background run from Slack: record it, show its card, schedule its job."""

from __future__ import annotations

import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.agents.card import card_message
from bot.agents.record import (
    JOB_KIND,
    KIND,
    Fence,
    Superseded,
    create_run,
    job_id,
    new_record,
    new_run_id,
)
from bot.logs import get_logger
from bot.services import Services

log = get_logger("agents.start")

START_GRACE_S = 10.0
"""If the starting process dies before the card is up, the job takes over after this long."""
CALL_OFF_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived",
                             "restricted_action", "invalid_thread_ts", "thread_not_found"})
"""Slack errors that won't go away by retrying: the run is called off and the asker told."""
DISABLED = "Agent runs are switched off in this workspace (AGENTS_ENABLED=false)."
EMPTY_TASK = "Tell me what the agent should do, e.g. `{example}`."


class CardRefused(Exception):
    """Slack would not show the run's card where it was asked for (the run was called off)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Who wants what run, and where its card and result go."""

    kind: str
    """agent | research | tool."""
    task: str
    asker: str
    team_id: str
    channel: str
    thread_ts: str | None = None
    """Set when started inside a thread: card and result go there; else the card is a root."""
    card_ts: str | None = None
    """An existing bot message to turn into the card (a reply's placeholder)."""
    previous_interaction_id: str | None = None
    environment_id: str | None = None
    agent: str | None = None
    attach: bool = True
    """Replies in the result thread continue with the agent (not for the run_agent tool)."""


async def start_run(services: Services, req: RunRequest, *, run_id: str | None = None,
                    claim_thread: bool = True) -> str:
    """Record the run and schedule its job, then show the card; the run's id.

    Order matters: the record and a job (due after a grace period) exist before the card is
    posted, so a crash at any point leaves a run some process will carry on with. The job is
    then brought forward to now.
    """
    settings = services.settings
    agent = req.agent or (settings.gemini_research_agent if req.kind == "research"
                          else settings.gemini_agent)
    run_id = run_id or new_run_id()
    record = new_record(run_id=run_id, kind=req.kind, agent=agent, task=req.task,
                        asker=req.asker, team_id=req.team_id, channel=req.channel,
                        thread_ts=req.thread_ts, card_ts=None,
                        previous_interaction_id=req.previous_interaction_id,
                        environment_id=req.environment_id, attach=req.attach,
                        max_runtime_s=settings.agent_max_runtime_s)
    await create_run(services, record)
    data = {"run_id": run_id}
    await services.jobs.schedule(job_id(run_id), JOB_KIND, time.time() + START_GRACE_S, data)
    card_ts, error = await _show_card(services, record, req.card_ts)
    if card_ts is None and error in CALL_OFF_ERRORS:
        await services.store.jobs.cancel(job_id(run_id))
        await services.store.records.update(KIND, run_id, {
            "status": "start_failed", "phase": "posted", "error": error,
            "finished_at": time.time()})
        raise CardRefused(error)
    if card_ts is not None:
        # No job claim yet: write under the initial fence (token -1), refused if a job holds it.
        fence = Fence(services, run_id, -1)
        changes = {"card_ts": card_ts}
        if not record["result_thread"]:
            changes["result_thread"] = card_ts
        try:
            await fence.write(changes)
        except Superseded:
            # Slack took longer than the grace period: the job posted a card of its own.
            log.warning("card_superseded", run=run_id)
            await _delete(services, record["channel"], card_ts, keep=req.card_ts)
            return run_id
    if req.attach and claim_thread:
        await follow_run(services, {**record, "card_ts": card_ts})
    await services.jobs.schedule(job_id(run_id), JOB_KIND, time.time(), data)
    log.info("run_requested", run=run_id, kind=req.kind, channel=req.channel)
    return run_id


async def follow_run(services: Services, record: dict) -> None:
    """Make the run's result thread follow it (replies held until the result is posted)."""
    from bot.agents.threads import open_thread

    await open_thread(services, record["team_id"], record["channel"],
                      record.get("thread_ts") or record.get("card_ts") or "", record["run_id"],
                      kind=record["kind"], agent=record["agent"],
                      environment_id=record.get("environment_id"),
                      interaction_id=record.get("previous_interaction_id"))


async def _delete(services: Services, channel: str, ts: str, *, keep: str | None) -> None:
    if ts == keep:
        return  # a reused placeholder: the run's own card is elsewhere; leave the message
    try:
        await services.slack.chat_delete(channel=channel, ts=ts)
    except SlackApiError as exc:
        log.info("card_delete_failed", error=exc.response.get("error"))


async def _show_card(services: Services, record: dict,
                     reuse_ts: str | None) -> tuple[str | None, str | None]:
    """Post the card (or turn `reuse_ts` into it): (ts, None), or (None, Slack's error)."""
    text, blocks = card_message(record)
    try:
        if reuse_ts:
            try:
                await services.slack.chat_update(channel=record["channel"], ts=reuse_ts,
                                                 text=text, blocks=blocks)
                return reuse_ts, None
            except SlackApiError as exc:
                log.info("card_reuse_failed", error=exc.response.get("error"))
        resp = await services.slack.chat_postMessage(channel=record["channel"],
                                                     thread_ts=record.get("thread_ts"),
                                                     text=text, blocks=blocks)
        return str(resp["ts"]), None
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        log.warning("card_post_failed", run=record["run_id"], error=error)
        return None, error
