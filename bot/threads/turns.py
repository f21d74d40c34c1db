"""Exactly-once, in-order turns: claim a message, queue it per thread, and drain the queue.

Every delivery of a user message (Slack retries, `app_mention` plus `message.*`) maps to one
idempotency key. The first delivery to claim it queues the turn in the thread's queue (ordered
by Slack `ts`) and posts the placeholder; whichever process holds the thread's lease answers
the queued turns one by one, so each answer chains to the one before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, Literal

import structlog
from slack_sdk.errors import SlackApiError

from bot.cancellation import raise_if_cancelling
from bot.controls.buttons import AnswerRef, stop_blocks
from bot.delivery.answer_writer import show_pending
from bot.delivery.edit_streamer import THINKING, text_message
from bot.logs import get_logger
from bot.services import AcceptGate, Services
from bot.spool import SpoolEntry
from bot.store_retry import STORE_DOWN, patiently
from bot.threads.conversation import answer_turn
from bot.threads.messages import IncomingMessage
from storage import ClaimResult, ThreadKey, ThreadState

log = get_logger("turns")

CLAIM_LEASE_S = 60.0
DONE_TTL_S = 24 * 3600
THREAD_LEASE_S = 6.0
"""Short, renewed every third of it: a killed holder's thread resumes elsewhere in seconds."""
POLL_S = 0.05
LEASE_RETRY_S = 0.2
"""How soon a failed lease renewal is tried again (the store may be back by then)."""
PLACEHOLDER_WAIT_S = 5.0
PENDING = "placeholder_pending"

DELAYED_NOTE = (":hourglass_flowing_sand: _I have your message, but my conversation store is "
                "unreachable right now. I'll answer here as soon as it's back._")


class ClaimHeldElsewhere(Exception):
    """A spooled message's claim is leased by another owner: replay it later."""


async def accept_message(services: Services, msg: IncomingMessage, *,
                         spooled: SpoolEntry | None = None) -> None:
    """Entry point for a user message the listeners decided may be a turn.

    When the store is unreachable the message goes to the local spool (with a "delayed" note
    in Slack) and is replayed here, with `spooled` set, once the store answers again.
    """
    with structlog.contextvars.bound_contextvars(thread=str(msg.key), turn=msg.ts):
        try:
            async with _in_arrival_order(services, msg.key):
                async with services.ack_first.follow_up():  # a burst's acks go first
                    outcome = await _claim_and_queue(services, msg, spooled)
        except (*STORE_DOWN, ClaimHeldElsewhere) as exc:
            if not isinstance(exc, ClaimHeldElsewhere):
                services.store_failed()
            if spooled is None:
                await _spool(services, msg)
            elif services.spool is not None:
                services.spool.release(spooled)  # tried again on the next replay
            return
        if spooled is not None and services.spool is not None:
            services.spool.drop(spooled)  # the store has it now
        if outcome != "queued":
            return  # not ours, or already handed to the workers (ROLE=web)
        if services.draining:
            services.metrics.turns.labels("handed_over").inc()
            log.info("turn_handed_over")  # queued: another process or the next start answers it
            return
        try:
            await drain_thread(services, msg.key, wait_for_ts=msg.ts, claim=msg.idempotency_key)
            await services.store.complete_claim(msg.idempotency_key, services.owner, DONE_TTL_S)
        except STORE_DOWN:
            # The turn is queued in the store: the recovery sweep answers it once it is back.
            services.store_failed()
            log.warning("store_lost_while_answering", exc_info=True)


@contextlib.asynccontextmanager
async def _in_arrival_order(services: Services, key: ThreadKey) -> AsyncIterator[None]:
    """Accept one thread's messages one at a time, in the order they arrived (asyncio locks
    are FIFO), so that their placeholders, which edit streaming answers into, appear in order
    even when Slack is slow to post the first."""
    gate = services.accepting.setdefault(key, AcceptGate())
    gate.users += 1
    try:
        async with gate.lock:
            yield
    finally:
        gate.users -= 1
        if not gate.users:
            del services.accepting[key]


Accepted = Literal["ignored", "queued", "handed_over"]
"""What accepting a message did: nothing (not ours to answer now), queued its turn for this
process to answer, or queued it and handed it to the worker processes (ROLE=web)."""


async def _claim_and_queue(services: Services, msg: IncomingMessage,
                           spooled: SpoolEntry | None) -> Accepted:
    """Claim the message and queue its turn, unless it is not ours to answer (now)."""
    store = services.store
    if msg.mentioned or msg.is_dm:
        services.remember_thread(msg.key)  # before any await: a quick reply is ours too
    state = await store.get_thread(msg.key)
    if state is not None:
        services.remember_thread(msg.key)
    elif not (msg.mentioned or msg.is_dm or msg.key in services.known_threads):
        log.debug("ignored_not_in_thread", channel=msg.channel_id)
        return "ignored"
    claim = await store.claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)
    if (claim is ClaimResult.IN_PROGRESS and spooled is not None
            and await store.renew_claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)):
        claim = ClaimResult.CLAIMED  # claimed by us just before the store went away
    if claim is ClaimResult.IN_PROGRESS and spooled is not None:
        raise ClaimHeldElsewhere(msg.idempotency_key)
    if claim is not ClaimResult.CLAIMED:
        log.info("duplicate_delivery", channel=msg.channel_id, ts=msg.ts, claim=claim.value)
        services.metrics.duplicates.inc()
        if spooled is not None and spooled.note_ts:
            await _delete_note(services, msg, spooled.note_ts)
        return "ignored"
    log.info("turn_accepted", channel=msg.channel_id, ts=msg.ts)
    try:
        handed_over = await _queue_turn(services, msg, state,
                                        spooled.note_ts if spooled is not None else None)
    except BaseException as exc:
        # Nothing was queued: let a Slack retry (or the spool replay) try again.
        if not isinstance(exc, STORE_DOWN):
            await store.release_claim(msg.idempotency_key, services.owner)
        raise
    services.remember_thread(msg.key)
    return "handed_over" if handed_over else "queued"


async def _spool(services: Services, msg: IncomingMessage) -> None:
    """Keep a message the store could not take, and tell the asker the answer is delayed."""
    spool = services.spool
    if spool is None:
        log.error("turn_lost_store_unreachable", channel=msg.channel_id, ts=msg.ts)
        return
    first = not spool.has(msg.idempotency_key)
    path = spool.keep(msg.idempotency_key, msg.to_payload())
    log.warning("turn_spooled", channel=msg.channel_id, ts=msg.ts)
    # A reply in a thread the bot is not known to be in may not be for the bot: no note.
    if not first or not (msg.mentioned or msg.is_dm or msg.key in services.known_threads):
        return
    note = text_message(DELAYED_NOTE)
    try:
        resp = await services.slack.chat_postMessage(
            channel=msg.channel_id, thread_ts=msg.reply_thread_ts, text=note.text,
            blocks=note.blocks)
    except SlackApiError as exc:
        log.warning("delayed_note_failed", channel=msg.channel_id, error=exc.response.get("error"))
        return
    spool.set_note(path, str(resp["ts"]))


async def _delete_note(services: Services, msg: IncomingMessage, note_ts: str) -> None:
    """Remove a "delayed" note whose message was answered by another delivery."""
    try:
        await services.slack.chat_delete(channel=msg.channel_id, ts=note_ts)
    except SlackApiError as exc:
        log.info("delayed_note_delete_failed", error=exc.response.get("error"))


async def _queue_turn(services: Services, msg: IncomingMessage, state: ThreadState | None,
                      note_ts: str | None = None) -> bool:
    """Queue the turn (joining the thread if new), then show at once that an answer is coming;
    True when it was also handed to the worker processes (ROLE=web).

    The queue slot is taken before any Slack call, so two quick messages keep their ts order
    however long each placeholder takes to post; the answerer waits briefly for it. A spooled
    message's "delayed" note (`note_ts`) becomes its placeholder. Two store round trips in all,
    the web process's whole share of a turn besides the placeholder.
    """
    store = services.store
    payload: dict[str, Any] = {
        "message": msg.to_payload(),
        PENDING: True,
        "claim_owner": services.owner,
        "accepted_at": time.time(),
    }
    joined = ThreadState(last_activity=time.time()) if state is None else None
    if not await store.enqueue_turn(msg.key, msg.ts, payload, new_state=joined,
                                    state_ttl_s=services.settings.thread_ttl_s):
        return False  # an earlier delivery queued it (and its process answers or hands it on)
    blocks = stop_blocks(AnswerRef.first(msg))
    try:
        if note_ts is not None:
            thinking = text_message(THINKING)
            await services.slack.chat_update(channel=msg.channel_id, ts=note_ts,
                                             text=thinking.text, blocks=[*thinking.blocks, *blocks])
            placeholder: str | None = note_ts
        else:
            placeholder = await show_pending(services, msg, blocks=blocks)
    except SlackApiError as exc:
        # The answer still comes: its streamer posts the first message itself.
        log.warning("placeholder_failed", channel=msg.channel_id, error=exc.response.get("error"))
        placeholder = None
    posted = {**payload, PENDING: False, "placeholder_ts": placeholder}
    if services.settings.role != "web":
        await store.update_turn(msg.key, msg.ts, posted)
        return False
    await store.hand_over_turn(msg.key, msg.ts, posted, claim=msg.idempotency_key,
                               owner=services.owner, done_ttl_s=DONE_TTL_S)
    return True


async def drain_thread(
    services: Services, key: ThreadKey, *, wait_for_ts: str | None = None,
    claim: str | None = None,
) -> None:
    """Answer the thread's queued turns in ts order while holding its lease.

    With `wait_for_ts`, keep trying until that turn has been answered (by us or by another
    process), renewing the caller's `claim` meanwhile so a Slack retry can't take it over;
    without it, drain once if the lease is free (crash recovery, workers). A web process
    (ROLE=web) hands the thread to the workers instead.
    """
    store = services.store
    if services.settings.role == "web":
        await store.notify_ready(key)  # a worker process answers; this one keeps acking fast
        return
    lease = f"thread:{{{key}}}"  # the thread's hash tag: same Cluster slot as its queue
    renew_at = time.monotonic() + CLAIM_LEASE_S / 3
    while not services.draining:
        if claim is not None and time.monotonic() >= renew_at:
            await store.renew_claim(claim, services.owner, CLAIM_LEASE_S)
            renew_at = time.monotonic() + CLAIM_LEASE_S / 3
        if wait_for_ts is not None and not await store.has_turn(key, wait_for_ts):
            return
        if key not in services.answering and await store.acquire_lease(
                lease, services.owner, THREAD_LEASE_S):
            # Answering the thread's earlier turns can take long: keep our claim meanwhile.
            keeper = asyncio.create_task(_keep_claim(services, claim)) if claim else None
            services.answering.add(key)
            try:
                await _drain_locked(services, key, lease)
            finally:
                services.answering.discard(key)
                if keeper is not None:
                    keeper.cancel()
                await store.release_lease(lease, services.owner)
            if wait_for_ts is None and await store.peek_turn(key) is None:
                return  # (a turn queued while the lease was being released is answered too)
            continue
        if wait_for_ts is None:
            return
        await asyncio.sleep(POLL_S)


async def _drain_locked(services: Services, key: ThreadKey, lease: str) -> None:
    store = services.store
    first_seen: dict[str, float] = {}
    while not services.draining and (item := await store.peek_turn(key)) is not None:
        ts, payload = item
        waited = time.monotonic() - first_seen.setdefault(ts, time.monotonic())
        if payload.get(PENDING) and waited < PLACEHOLDER_WAIT_S:
            await asyncio.sleep(POLL_S)  # its placeholder is being posted (re-peek: an
            continue  # earlier turn may also arrive meanwhile)
        with structlog.contextvars.bound_contextvars(thread=str(key), turn=ts):
            answered = await _answer_holding_lease(services, lease, payload)
        if not answered:
            return  # the lease went to another process, which now answers this thread
        msg = payload.get("message", {})
        idem = payload.get("claim_key") or f"msg:{msg.get('team_id')}:{msg.get('channel_id')}:{ts}"
        owner = str(payload.get("claim_owner", ""))
        await patiently(services, partial(store.complete_claim, idem, owner, DONE_TTL_S))
        await patiently(services, partial(store.remove_turn, key, ts))


async def _answer_holding_lease(services: Services, lease: str,
                                payload: dict[str, Any]) -> bool:
    """Answer one turn while renewing the lease; cancel it (False) if the lease is lost."""
    work = asyncio.create_task(answer_turn(services, payload))
    keeper = asyncio.create_task(_keep_lease(services, lease))
    try:
        await asyncio.wait({work, keeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost = keeper.done() and not work.done()
        keeper.cancel()
        if lost or not work.done():  # lease lost, or we are being cancelled (shutdown)
            work.cancel()
        await asyncio.gather(work, keeper, return_exceptions=True)
    if lost:
        log.warning("thread_lease_lost", lease=lease)
        return False
    if not work.cancelled() and (exc := work.exception()) is not None:
        # answer_turn reports its own failures in Slack; this is a bug guard so one bad
        # turn cannot wedge the thread's queue.
        log.error("turn_crashed", exc_info=exc)
        services.metrics.turns.labels("crashed").inc()
    return True


async def _keep_claim(services: Services, claim: str) -> None:
    """Renew a waiting message's claim until cancelled (failures are retried next tick)."""
    while True:
        raise_if_cancelling()
        await asyncio.sleep(CLAIM_LEASE_S / 3)
        try:
            await services.store.renew_claim(claim, services.owner, CLAIM_LEASE_S)
        except Exception:
            log.warning("claim_renew_failed", exc_info=True)


async def _keep_lease(services: Services, lease: str) -> None:
    """Renew the lease until it is lost (returns); a failed renewal is retried soon."""
    store = services.store
    pause = THREAD_LEASE_S / 3
    while True:
        raise_if_cancelling()
        await asyncio.sleep(pause)
        pause = THREAD_LEASE_S / 3
        try:
            if await store.renew_lease(lease, services.owner, THREAD_LEASE_S):
                continue
            # Expired while the store was unreachable: take it back unless someone else has.
            if not await store.acquire_lease(lease, services.owner, THREAD_LEASE_S):
                return
            log.info("thread_lease_reacquired", lease=lease)
        except Exception as exc:
            log.warning("thread_lease_renew_failed", lease=lease, error=type(exc).__name__)
            # Once the store is back, take the lease back before another process's
            # recovery sweep (every 2 s) finds it free.
            pause = LEASE_RETRY_S
