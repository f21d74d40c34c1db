"""Exactly-once, in-order turns: claim a message, queue it per thread, and drain the queue.

Every delivery of a user message (Slack retries, `app_mention` plus `message.*`) maps to one
idempotency key. The first delivery to claim it posts the placeholder and queues the turn in
the thread's queue (ordered by Slack `ts`); whichever process holds the thread's lease answers
the queued turns one by one, so each answer chains to the one before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.answer_stream import show_pending
from bot.controls import AnswerRef, stop_blocks
from bot.conversation import answer_turn
from bot.logs import get_logger
from bot.messages import IncomingMessage
from bot.services import Services
from storage import ClaimResult, ThreadKey, ThreadState

log = get_logger("turns")

CLAIM_LEASE_S = 60.0
DONE_TTL_S = 24 * 3600
THREAD_LEASE_S = 30.0
POLL_S = 0.05

Answerer = Callable[[Services, dict[str, Any]], Awaitable[None]]


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
    await drain_thread(services, msg.key, wait_for_ts=msg.ts)
    await store.complete_claim(msg.idempotency_key, services.owner, DONE_TTL_S)


async def _queue_turn(services: Services, msg: IncomingMessage, state: ThreadState | None) -> None:
    """Join the thread if new, show at once that an answer is coming, and queue the turn."""
    store = services.store
    if state is None:
        joined = ThreadState(last_activity=time.time())
        await store.save_thread(msg.key, joined, services.settings.thread_ttl_s)
    payload = {
        "message": msg.to_payload(),
        "placeholder_ts": await show_pending(services, msg,
                                             blocks=stop_blocks(AnswerRef.first(msg))),
        "seed_thread": state is None and msg.in_existing_thread,
        "claim_owner": services.owner,
    }
    await store.enqueue_turn(msg.key, msg.ts, payload)


async def drain_thread(
    services: Services, key: ThreadKey, *, wait_for_ts: str | None = None,
    answer: Answerer | None = None,
) -> None:
    """Answer the thread's queued turns in ts order while holding its lease.

    With `wait_for_ts`, keep trying until that turn has been answered (by us or by another
    process); without it, drain once if the lease is free (crash recovery).
    """
    answer = answer or answer_turn
    store = services.store
    lease = f"thread:{key}"
    while True:
        if wait_for_ts is not None and not await store.has_turn(key, wait_for_ts):
            return
        if await store.acquire_lease(lease, services.owner, THREAD_LEASE_S):
            try:
                await _drain_locked(services, key, lease, answer)
            finally:
                await store.release_lease(lease, services.owner)
            if wait_for_ts is None:
                return
            continue
        if wait_for_ts is None:
            return
        await asyncio.sleep(POLL_S)


async def _drain_locked(services: Services, key: ThreadKey, lease: str, answer: Answerer) -> None:
    store = services.store
    while (item := await store.peek_turn(key)) is not None:
        ts, payload = item
        keeper = asyncio.create_task(_keep_lease(services, lease))
        try:
            await answer(services, payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            # answer_turn reports its own failures in Slack; this is a bug guard so one bad
            # turn cannot wedge the thread's queue.
            log.exception("turn_crashed", ts=ts)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        msg = payload.get("message", {})
        idem = payload.get("claim_key") or f"msg:{msg.get('team_id')}:{msg.get('channel_id')}:{ts}"
        await store.complete_claim(idem, str(payload.get("claim_owner", "")), DONE_TTL_S)
        await store.remove_turn(key, ts)


async def _keep_lease(services: Services, lease: str) -> None:
    while True:
        await asyncio.sleep(THREAD_LEASE_S / 3)
        if not await services.store.renew_lease(lease, services.owner, THREAD_LEASE_S):
            log.warning("thread_lease_lost", lease=lease)
            return
