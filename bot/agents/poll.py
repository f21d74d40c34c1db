"""The job behind every background run: start it, poll it, post its outcome, once.

One job per run (`agent:{run_id}`, kind `agent_run`), run by whichever bot process claims it.
Each run of the job moves the run one step and says when to come back: start the interaction,
then one GET per interval (growing from AGENT_POLL_MIN_S to AGENT_POLL_MAX_S), then post the
outcome. Gemini 429/5xx/timeouts raise, so the job runner retries with backoff; a 404 ends the
run with a clear message; a run past its deadline is cancelled.
"""

from __future__ import annotations

import time
from typing import Any

from google.genai import _interactions as gx

from bot.agents.card import card_due, post_card, show_card
from bot.agents.outcome import RunOutput, read_output
from bot.agents.posting import post_result
from bot.agents.record import FINISHED, QUEUED, RUNNING, Fence, Superseded, get_run
from bot.agents.start import follow_run
from bot.agents.threads import after_result
from bot.gemini import describe_api_error
from bot.jobs import Done, Job, Outcome, RunAgain
from bot.logs import get_logger
from bot.services import Services

log = get_logger("agents.poll")

POLL_GROWTH = 1.5
WAITING = frozenset({"in_progress", "queued"})


class PollFailed(Exception):
    """Gemini could not be asked right now (429/5xx/timeout): the job retries with backoff."""


async def run_job(services: Services, job: Job) -> Outcome:
    """One step of a run (the `agent_run` job handler)."""
    run_id = str(job.data.get("run_id") or "")
    record = await get_run(services, run_id)
    if record is None:
        return Done()
    if record.get("phase") == "posted":
        await after_result(services, record)  # a retry after the hand-over failed
        return Done()
    try:
        fence, record = await Fence.take(services, run_id, job.token)
        return await _step(services, fence, record)
    except Superseded as why:
        log.info("run_superseded", run=run_id, reason=str(why))
        return Done()  # the newer holder's claim stays; finishing ours is refused by the store


async def _step(services: Services, fence: Fence, record: dict[str, Any]) -> Outcome:
    settings = services.settings
    if not record.get("card_ts"):
        record = await fence.write({"card_ts": await post_card(services, record)})
        if not record.get("result_thread"):
            record = await fence.write({"result_thread": record["card_ts"]})
            if record.get("attach"):
                await follow_run(services, record)
    output: RunOutput | None = None
    if record["status"] == QUEUED and record.get("cancelled_by"):
        record = await fence.write({"status": "cancelled", "finished_at": time.time()})
    if record["status"] == QUEUED:
        record = await _start(services, fence, record)
        if record["status"] == RUNNING:
            await show_card(services, record)
            return RunAgain(float(record["next_poll_at"]))
    if record["status"] == RUNNING:
        now = time.time()
        if now >= float(record["deadline"]):
            record = await _expire(services, fence, record)
        else:
            record, output = await _poll(services, fence, record)
            if record["status"] == RUNNING:
                return RunAgain(float(record["next_poll_at"]))
    if record["status"] in FINISHED:
        if output is None and record["status"] == "completed":
            output = await _fetch_output(services, record)
        record = await post_result(services, fence, record, output)
        await after_result(services, record)
        return Done()
    log.error("run_in_unknown_state", run=record["run_id"], status=record["status"])
    return RunAgain(time.time() + settings.agent_poll_max_s)


async def _start(services: Services, fence: Fence, record: dict[str, Any]) -> dict[str, Any]:
    """Create the background interaction and record its id (then the card may say Running)."""
    body: dict[str, Any] = {"agent": record["agent"], "input": record["task"], "background": True}
    if record["kind"] != "research":
        body["environment"] = record.get("environment_id") or "remote"
    if record.get("previous_interaction_id"):
        body["previous_interaction_id"] = record["previous_interaction_id"]
    try:
        interaction = await services.gemini.aio.interactions.create(**body)
    except gx.APIError as exc:
        err = describe_api_error(exc)
        if err.retryable:
            log.warning("run_start_retrying", run=record["run_id"], code=err.code)
            raise PollFailed(err.user_message) from exc
        log.warning("run_start_failed", run=record["run_id"], status=err.status, code=err.code)
        detail = _api_message(exc) or err.user_message
        return await fence.write({"status": "start_failed", "error": detail,
                                  "finished_at": time.time()})
    now = time.time()
    poll_s = services.settings.agent_poll_min_s
    log.info("run_started", run=record["run_id"], kind=record["kind"],
             interaction=interaction.id)
    return await fence.write({
        "status": RUNNING, "interaction_id": interaction.id,
        "environment_id": getattr(interaction, "environment_id", None)
        or record.get("environment_id"),
        "poll_s": poll_s, "next_poll_at": now + poll_s, "started_at": now,
    })


async def _poll(services: Services, fence: Fence,
                record: dict[str, Any]) -> tuple[dict[str, Any], RunOutput | None]:
    """One GET of the interaction: still going (next poll time) or finished (its output)."""
    settings = services.settings
    try:
        interaction = await services.gemini.aio.interactions.get(record["interaction_id"])
    except gx.NotFoundError:
        log.warning("run_not_found", run=record["run_id"])
        return await fence.write({"status": "lost", "finished_at": time.time()}), None
    except gx.APIError as exc:
        err = describe_api_error(exc)
        log.warning("run_poll_failed", run=record["run_id"], status=err.status, code=err.code)
        raise PollFailed(err.user_message) from exc
    status = str(interaction.status or "")
    now = time.time()
    if status in WAITING or not status:
        poll_s = min(settings.agent_poll_max_s,
                     float(record.get("poll_s") or settings.agent_poll_min_s) * POLL_GROWTH)
        changes: dict[str, Any] = {"poll_s": poll_s, "next_poll_at": now + poll_s}
        progress = _progress(interaction)
        if progress:
            changes["progress"] = progress
        record = await fence.write(changes)
        if card_due(record, now) and await show_card(services, record, interim=True):
            record = await fence.write({"card_edited_at": now})
        return record, None
    output = read_output(interaction)
    final, error = status, output.error
    if status not in FINISHED:  # e.g. requires_action: nothing more will come of this run
        final = "failed"
        error = error or f"Gemini ended the run with status “{status}”"
    log.info("run_finished", run=record["run_id"], status=final)
    record = await fence.write({"status": final, "error": error, "finished_at": now,
                                "environment_id": output.environment_id
                                or record.get("environment_id")})
    return record, output


async def _expire(services: Services, fence: Fence, record: dict[str, Any]) -> dict[str, Any]:
    """Cancel a run past its deadline (it may have just finished: then that is fine too)."""
    try:
        await services.gemini.aio.interactions.cancel(record["interaction_id"])
    except gx.APIError as exc:
        log.info("expire_cancel_failed", run=record["run_id"], error=type(exc).__name__)
    log.warning("run_expired", run=record["run_id"])
    return await fence.write({"status": "expired", "finished_at": time.time()})


async def _fetch_output(services: Services, record: dict[str, Any]) -> RunOutput | None:
    """The output of a completed run, fetched again (a resumed post after a crash)."""
    try:
        interaction = await services.gemini.aio.interactions.get(record["interaction_id"])
    except gx.NotFoundError:
        return RunOutput(status="completed", error="the result is no longer available")
    except gx.APIError as exc:
        raise PollFailed(describe_api_error(exc).user_message) from exc
    return read_output(interaction)


def _progress(interaction: Any) -> str:
    """What a running interaction reports, if anything: its latest thought summary."""
    for step in reversed(list(getattr(interaction, "steps", None) or [])):
        if getattr(step, "type", None) == "thought":
            for block in getattr(step, "summary", None) or []:
                text = getattr(block, "text", None)
                if text:
                    return str(text)[:300]
    return ""


def _api_message(exc: Exception) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        return str(message)[:500] if message else None
    return None
