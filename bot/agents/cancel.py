"""Cancel a run from its card: the asker or an admin, from any bot process."""

from __future__ import annotations

import time

from google.genai import _interactions as gx

from bot.agents.card import show_card
from bot.agents.record import FINISHED, JOB_KIND, KIND, get_run, job_id
from bot.controls.buttons import Click, may_control, tell
from bot.logs import get_logger
from bot.services import Services

log = get_logger("agents.cancel")


async def on_cancel(services: Services, click: Click) -> None:
    """Ask Gemini to cancel the clicked run; the card says who did, the thread gets a note."""
    run = await get_run(services, click.value)
    if run is None:
        await tell(services, channel=click.channel_id, user=click.user_id,
                   text="This run is no longer known to the bot.", thread_ts=click.thread_ts)
        return
    if not await may_control(services, click.user_id, run["asker"]):
        log.info("cancel_refused", run=run["run_id"], user=click.user_id)
        await tell(services, channel=click.channel_id, user=click.user_id,
                   text=f"Only <@{run['asker']}>, who started this run, or a workspace admin "
                   "can cancel it.", thread_ts=click.thread_ts)
        return
    if run["status"] in FINISHED or run.get("cancelled_by"):
        return
    # Recorded first: whoever polls the run next reports it as cancelled by this person.
    run = await services.store.records.update(
        KIND, run["run_id"], {"cancelled_by": click.user_id},
        expect={"cancelled_by": None}) or run
    if run.get("interaction_id"):
        try:
            await services.gemini.aio.interactions.cancel(run["interaction_id"])
        except gx.APIError as exc:
            # Finished meanwhile (400) or gone (404): the poll reports what really happened.
            log.info("cancel_not_applied", run=run["run_id"], error=type(exc).__name__)
    await show_card(services, {**run, "status": "cancelled"})
    log.info("run_cancel_requested", run=run["run_id"], user=click.user_id)
    # Bring the run's next poll forward unless a process is on it right now.
    job = await services.store.jobs.get(job_id(run["run_id"]))
    if job is not None and job.owner is None:
        await services.jobs.schedule(job_id(run["run_id"]), JOB_KIND, time.time(), job.data)
