"""Taking a message in: claim it and queue its turn, or keep it in the spool; then show it.

Right after the ack (the write-ahead journal, bot/journal.py, covers the moments between), the
message is claimed and its turn queued in the store: two round trips for a mention. When the
store does not answer within `TAKE_IN_TIMEOUT_S` it goes to the local spool (fsynced) instead,
and the asker is told the answer is delayed. The placeholder that shows an answer is coming
(`show_and_hand_over`) waits behind the acks of a burst (bot/ack_first.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slack_sdk.errors import SlackApiError

from bot.controls.buttons import AnswerRef, stop_blocks
from bot.delivery.answer_writer import show_pending
from bot.delivery.edit_streamer import THINKING, text_message
from bot.logs import get_logger
from bot.services import Services
from bot.spool import SpoolEntry
from bot.store_retry import STORE_DOWN, patiently
from bot.threads.messages import IncomingMessage
from storage import ClaimResult, ThreadState

log = get_logger("intake")

TAKE_IN_TIMEOUT_S = 1.0
"""How long a new message waits for the store before it goes to the spool instead."""
CLAIM_LEASE_S = 60.0
DONE_TTL_S = 24 * 3600
PENDING = "placeholder_pending"

DELAYED_NOTE = (":hourglass_flowing_sand: _I have your message, but my conversation store is "
                "unreachable right now. I'll answer here as soon as it's back._")


@dataclass
class Taken:
    """What taking a message in did."""

    outcome: Literal["ignored", "queued", "spooled", "later"]
    """ignored: not ours to answer, or a duplicate; queued: its turn is in the store; spooled:
    kept in the local spool; later: a spooled message the store cannot take yet."""
    payload: dict[str, Any] | None = None
    """The queued turn's payload when this delivery queued it (it then posts the placeholder)."""
    note_ts: str | None = None
    """A replayed message's "delayed" note, which becomes its placeholder."""
    spool_path: Path | None = None
    """Where a message spooled for the first time was kept (its "delayed" note is still due)."""


class ClaimHeldElsewhere(Exception):
    """A spooled message's claim is leased by another owner: replay it later."""


async def take_in(services: Services, msg: IncomingMessage, *,
                  spooled: SpoolEntry | None = None) -> Taken:
    """Make the message safe: queued in the store, or (store unreachable) kept in the spool.

    A replayed message (`spooled`) that the store still cannot take stays in the spool.
    """
    try:  # (a replay is not holding an ack back: no time limit)
        async with asyncio.timeout(TAKE_IN_TIMEOUT_S if spooled is None else None):
            return await _claim_and_queue(services, msg, spooled)
    except (*STORE_DOWN, ClaimHeldElsewhere) as exc:  # (TimeoutError is an OSError)
        if not isinstance(exc, ClaimHeldElsewhere):
            services.store_failed()
            log.warning("store_unreachable_at_intake", error=type(exc).__name__)
    if spooled is None:
        return _spool(services, msg)
    if services.spool is not None:
        services.spool.release(spooled)  # tried again on the next replay
    return Taken("later")


async def _claim_and_queue(services: Services, msg: IncomingMessage,
                           spooled: SpoolEntry | None) -> Taken:
    store = services.store
    ours = msg.mentioned or msg.is_dm
    if ours:
        services.remember_thread(msg.key)  # before any await: a quick reply is ours too
    if ours or msg.key in services.known_threads:  # a turn whatever the state: one round trip
        claim, state = await store.claim_in_thread(msg.idempotency_key, services.owner,
                                                   CLAIM_LEASE_S, msg.key)
    else:
        state = await store.get_thread(msg.key)
        if state is None:
            log.debug("ignored_not_in_thread", channel=msg.channel_id)
            return Taken("ignored")
        claim = await store.claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)
    if state is not None:
        services.remember_thread(msg.key)
    if (claim is ClaimResult.IN_PROGRESS and spooled is not None
            and await store.renew_claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)):
        claim = ClaimResult.CLAIMED  # claimed by us just before the store went away
    elif claim is ClaimResult.IN_PROGRESS and spooled is not None and spooled.dead_owner:
        # Claimed by a process that died before queueing it (its journal said so): free it.
        await store.release_claim(msg.idempotency_key, spooled.dead_owner)
        claim = await store.claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)
    if claim is ClaimResult.IN_PROGRESS and spooled is not None:
        raise ClaimHeldElsewhere(msg.idempotency_key)
    if claim is not ClaimResult.CLAIMED:
        log.info("duplicate_delivery", channel=msg.channel_id, ts=msg.ts, claim=claim.value)
        services.metrics.duplicates.inc()
        if spooled is not None and spooled.note_ts:
            await _delete_note(services, msg, spooled.note_ts)
        return Taken("ignored")
    log.info("turn_accepted", channel=msg.channel_id, ts=msg.ts)
    try:
        payload = await _enqueue(services, msg, state)
    except BaseException as exc:
        # Nothing was queued: let a Slack retry (or the spool replay) try again. (Not when
        # the store is gone or slow: the message is spooled with our claim, renewed on replay.)
        if not isinstance(exc, (*STORE_DOWN, asyncio.CancelledError)):
            await store.release_claim(msg.idempotency_key, services.owner)
        raise
    services.remember_thread(msg.key)
    return Taken("queued", payload=payload, note_ts=spooled.note_ts if spooled else None)


async def _enqueue(services: Services, msg: IncomingMessage,
                   state: ThreadState | None) -> dict[str, Any] | None:
    """Queue the turn (joining the thread if new); its payload, or None if an earlier delivery
    queued it. The queue is ordered by ts, so quick messages keep their order however long
    each placeholder takes to post; the answerer waits briefly for a pending one."""
    payload: dict[str, Any] = {
        "message": msg.to_payload(),
        PENDING: True,
        "claim_owner": services.owner,
        "accepted_at": time.time(),
    }
    joined = ThreadState(last_activity=time.time()) if state is None else None
    queued = await services.store.enqueue_turn(msg.key, msg.ts, payload, new_state=joined,
                                               state_ttl_s=services.settings.thread_ttl_s)
    return payload if queued else None


def _spool(services: Services, msg: IncomingMessage) -> Taken:
    """Keep a message the store could not take (fsynced, before the ack)."""
    spool = services.spool
    if spool is None:
        log.error("turn_lost_store_unreachable", channel=msg.channel_id, ts=msg.ts)
        return Taken("ignored")
    first = not spool.has(msg.idempotency_key)
    path = spool.keep(msg.idempotency_key, msg.to_payload())
    log.warning("turn_spooled", channel=msg.channel_id, ts=msg.ts)
    # A reply in a thread the bot is not known to be in may not be for the bot: no note.
    noted = first and (msg.mentioned or msg.is_dm or msg.key in services.known_threads)
    return Taken("spooled", spool_path=path if noted else None)


async def post_delayed_note(services: Services, msg: IncomingMessage, path: Path) -> None:
    """Tell the asker the answer is delayed (the note later becomes its placeholder)."""
    note = text_message(DELAYED_NOTE)
    try:
        resp = await services.slack.chat_postMessage(
            channel=msg.channel_id, thread_ts=msg.reply_thread_ts, text=note.text,
            blocks=note.blocks)
    except SlackApiError as exc:
        log.warning("delayed_note_failed", channel=msg.channel_id, error=exc.response.get("error"))
        return
    if services.spool is not None:
        services.spool.set_note(path, str(resp["ts"]))


async def _delete_note(services: Services, msg: IncomingMessage, note_ts: str) -> None:
    """Remove a "delayed" note whose message was answered by another delivery."""
    try:
        await services.slack.chat_delete(channel=msg.channel_id, ts=note_ts)
    except SlackApiError as exc:
        log.info("delayed_note_delete_failed", error=exc.response.get("error"))


async def show_and_hand_over(services: Services, msg: IncomingMessage, taken: Taken) -> bool:
    """Post the queued turn's placeholder (or turn its "delayed" note into one), record it on
    the turn and, in a web process, hand the turn to the workers (True then)."""
    assert taken.payload is not None
    blocks = stop_blocks(AnswerRef.first(msg))
    try:
        if taken.note_ts is not None:
            thinking = text_message(THINKING)
            await services.slack.chat_update(channel=msg.channel_id, ts=taken.note_ts,
                                             text=thinking.text, blocks=[*thinking.blocks, *blocks])
            placeholder: str | None = taken.note_ts
        else:
            placeholder = await show_pending(services, msg, blocks=blocks)
    except SlackApiError as exc:
        # The answer still comes: its streamer posts the first message itself.
        log.warning("placeholder_failed", channel=msg.channel_id, error=exc.response.get("error"))
        placeholder = None
    posted = {**taken.payload, PENDING: False, "placeholder_ts": placeholder}
    store = services.store
    if services.settings.role != "web":
        await patiently(services, lambda: store.update_turn(msg.key, msg.ts, posted))
        return False
    await patiently(services, lambda: store.hand_over_turn(
        msg.key, msg.ts, posted, claim=msg.idempotency_key, owner=services.owner,
        done_ttl_s=DONE_TTL_S))
    return True
