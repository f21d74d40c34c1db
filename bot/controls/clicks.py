"""What the bot does when someone presses an answer's Stop, Regenerate or feedback button."""

from __future__ import annotations

import re
import time

from bot.controls.buttons import (
    NEGATIVE,
    POSITIVE,
    AnswerRef,
    BadControl,
    Click,
    Rating,
    may_control,
    tell,
)
from bot.controls.stopping import request_stop
from bot.logs import get_logger
from bot.services import Services
from bot.threads.intake import CLAIM_LEASE_S, DONE_TTL_S
from bot.threads.runs import NOT_LATEST, last_turn, regenerate_payload
from bot.threads.turns import drain_thread
from storage import ClaimResult

log = get_logger("answer_actions")

BROKEN = "Sorry, that button no longer works."
_TS = re.compile(r"^\d{9,10}\.\d{6}$")


async def _permitted_ref(services: Services, click: Click, verb: str) -> AnswerRef | None:
    """The clicked answer, if the clicker may `verb` it (asker or admin); else explain why not."""
    ref = await _answer_ref(services, click)
    if ref is None:
        return None
    if not await may_control(services, click.user_id, ref.asker):
        log.info(f"{verb}_refused", channel=click.channel_id, user=click.user_id)
        await _tell(services, click, f"Only <@{ref.asker}>, who asked, or a workspace admin "
                    f"can {verb} this answer.")
        return None
    return ref


async def on_stop(services: Services, click: Click) -> None:
    """Stop the answer being written (asker or admin only)."""
    ref = await _permitted_ref(services, click, "stop")
    if ref is None:
        return
    await request_stop(services, ref, click.user_id)
    log.info("stop_requested", channel=click.channel_id, gen=ref.gen, user=click.user_id)


async def on_regenerate(services: Services, click: Click) -> None:
    """Queue a re-run of the thread's latest turn (asker or admin only, once per answer)."""
    ref = await _permitted_ref(services, click, "regenerate")
    if ref is None:
        return
    store = services.store
    last = last_turn(await store.get_thread(ref.key))
    if last is None or (last.ts, last.gen) != (ref.turn_ts, ref.gen):
        await _tell(services, click, NOT_LATEST)
        return
    claim_key = f"regen:{ref.run_id}"
    if await store.claim(claim_key, services.owner, CLAIM_LEASE_S) is not ClaimResult.CLAIMED:
        log.info("regenerate_duplicate", channel=click.channel_id, gen=ref.gen)
        await _tell(services, click, "This answer is already being regenerated.")
        return
    # Queued by click time, so it runs after the messages sent before the click.
    queue_ts = click.action_ts if _TS.match(click.action_ts) else f"{time.time():.6f}"
    payload = regenerate_payload(last, by=click.user_id, claim_key=claim_key,
                                 owner=services.owner)
    try:
        await store.enqueue_turn(ref.key, queue_ts, payload)
    except BaseException:
        await store.release_claim(claim_key, services.owner)
        raise
    log.info("regenerate_queued", channel=click.channel_id, gen=ref.gen, user=click.user_id)
    await drain_thread(services, ref.key, wait_for_ts=queue_ts, claim=claim_key)
    await store.complete_claim(claim_key, services.owner, DONE_TTL_S)


async def on_feedback(services: Services, click: Click) -> None:
    """Store a 👍/👎 on an answer's interaction, count it in the logs, and say thanks."""
    try:
        rating = Rating.from_value(click.value)
    except BadControl as why:
        log.warning("bad_control", action="feedback", reason=str(why))
        await _tell(services, click, BROKEN)
        return
    counts = await services.store.record_feedback(
        rating.interaction_id, click.user_id, rating.value, services.settings.thread_ttl_s)
    log.info("feedback_recorded", interaction=rating.interaction_id, value=rating.value,
             user=click.user_id, positive=counts.get(POSITIVE, 0),
             negative=counts.get(NEGATIVE, 0))
    await _tell(services, click, "Thanks for the feedback!")


async def _answer_ref(services: Services, click: Click) -> AnswerRef | None:
    """The answer a Stop/Regenerate button points at; None (after telling the user) if broken."""
    try:
        ref = AnswerRef.from_value(click.value)
        if ref.key.channel_id != click.channel_id:
            raise BadControl("button from another channel")
    except BadControl as why:
        log.warning("bad_control", channel=click.channel_id, reason=str(why))
        await _tell(services, click, BROKEN)
        return None
    return ref


async def _tell(services: Services, click: Click, text: str) -> None:
    await tell(services, channel=click.channel_id, user=click.user_id, text=text,
               thread_ts=click.thread_ts)
