"""Exactly-once, in-order turns: claim a message, queue it per thread, and drain the queue.

Every delivery of a user message (Slack retries, `app_mention` plus `message.*`) maps to one
idempotency key. The first delivery to claim it queues the turn in the thread's queue (ordered
by Slack `ts`) and posts the placeholder; whichever process holds the thread's lease answers
the queued turns one by one, so each answer chains to the one before it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.controls.buttons import AnswerRef, stop_blocks
from bot.delivery.answer_writer import show_pending
from bot.logs import get_logger
from bot.services import Services
from bot.threads.conversation import answer_turn
from bot.threads.messages import IncomingMessage
from storage import ClaimResult, ThreadKey, ThreadState

log = get_logger("turns")

CLAIM_LEASE_S = 60.0
DONE_TTL_S = 24 * 3600
THREAD_LEASE_S = 30.0
POLL_S = 0.05
PLACEHOLDER_WAIT_S = 5.0
PENDING = "placeholder_pending"

async def accept_message(services: Services, msg: IncomingMessage) -> None:
    """Entry point for a user message the listeners decided may be a turn."""
    store = services.store
    state = await store.get_thread(msg.key)
    if state is None and not (msg.mentioned or msg.is_dm):
        log.debug("ignored_not_in_thread", channel=msg.channel_id)
        return
    claim = await store.claim(msg.idempotency_key, services.owner, CLAIM_LEASE_S)
    if claim is not ClaimResult.CLAIMED:
        log.info("duplicate_delivery", channel=msg.channel_id, ts=msg.ts, claim=claim.value)
        return
    log.info("turn_accepted", channel=msg.channel_id, ts=msg.ts, thread=msg.reply_thread_ts)
    try:
        if not await store.has_turn(msg.key, msg.ts):
            await _queue_turn(services, msg, state)
    except BaseException:
        # Nothing was queued: let a Slack retry of this event try again.
        await store.release_claim(msg.idempotency_key, services.owner)
        raise
    await drain_thread(services, msg.key, wait_for_ts=msg.ts, claim=msg.idempotency_key)
    await store.complete_claim(msg.idempotency_key, services.owner, DONE_TTL_S)


async def _queue_turn(services: Services, msg: IncomingMessage, state: ThreadState | None) -> None:
    """Join the thread if new, queue the turn, then show at once that an answer is coming.

    The queue slot is taken before any Slack call, so two quick messages keep their ts order
    however long each placeholder takes to post; the answerer waits briefly for it.
    """
    store = services.store
    if state is None:
        joined = ThreadState(last_activity=time.time())
        await store.save_thread(msg.key, joined, services.settings.thread_ttl_s)
    payload: dict[str, Any] = {
        "message": msg.to_payload(),
        PENDING: True,
        "claim_owner": services.owner,
    }
    await store.enqueue_turn(msg.key, msg.ts, payload)
    try:
        placeholder = await show_pending(services, msg, blocks=stop_blocks(AnswerRef.first(msg)))
    except SlackApiError as exc:
        # The answer still comes: its streamer posts the first message itself.
        log.warning("placeholder_failed", channel=msg.channel_id, error=exc.response.get("error"))
        placeholder = None
    await store.update_turn(msg.key, msg.ts, {**payload, PENDING: False,
                                              "placeholder_ts": placeholder})


async def drain_thread(
    services: Services, key: ThreadKey, *, wait_for_ts: str | None = None,
    claim: str | None = None,
) -> None:
    """Answer the thread's queued turns in ts order while holding its lease.

    With `wait_for_ts`, keep trying until that turn has been answered (by us or by another
    process), renewing the caller's `claim` meanwhile so a Slack retry can't take it over;
    without it, drain once if the lease is free (crash recovery).
    """
    store = services.store
    lease = f"thread:{key}"
    renew_at = time.monotonic() + CLAIM_LEASE_S / 3
    while True:
        if claim is not None and time.monotonic() >= renew_at:
            await store.renew_claim(claim, services.owner, CLAIM_LEASE_S)
            renew_at = time.monotonic() + CLAIM_LEASE_S / 3
        if wait_for_ts is not None and not await store.has_turn(key, wait_for_ts):
            return
        if await store.acquire_lease(lease, services.owner, THREAD_LEASE_S):
            try:
                await _drain_locked(services, key, lease)
            finally:
                await store.release_lease(lease, services.owner)
            if wait_for_ts is None:
                return
            continue
        if wait_for_ts is None:
            return
        await asyncio.sleep(POLL_S)


async def _drain_locked(services: Services, key: ThreadKey, lease: str) -> None:
    store = services.store
    first_seen: dict[str, float] = {}
    while (item := await store.peek_turn(key)) is not None:
        ts, payload = item
        waited = time.monotonic() - first_seen.setdefault(ts, time.monotonic())
        if payload.get(PENDING) and waited < PLACEHOLDER_WAIT_S:
            await asyncio.sleep(POLL_S)  # its placeholder is being posted (re-peek: an
            continue  # earlier turn may also arrive meanwhile)
        if not await _answer_holding_lease(services, lease, payload):
            return  # the lease went to another process, which now answers this thread
        msg = payload.get("message", {})
        idem = payload.get("claim_key") or f"msg:{msg.get('team_id')}:{msg.get('channel_id')}:{ts}"
        await store.complete_claim(idem, str(payload.get("claim_owner", "")), DONE_TTL_S)
        await store.remove_turn(key, ts)


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
    return True


async def _keep_lease(services: Services, lease: str) -> None:
    """Renew the lease until it is lost (returns); a failed renewal is retried next tick."""
    while True:
        await asyncio.sleep(THREAD_LEASE_S / 3)
        try:
            if not await services.store.renew_lease(lease, services.owner, THREAD_LEASE_S):
                return
        except Exception:
            log.warning("thread_lease_renew_failed", lease=lease, exc_info=True)
