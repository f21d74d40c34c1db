"""Exactly-once, in-order turns: after the ack, show the answer is coming and drain the queue.

Every delivery of a user message (Slack retries, `app_mention` plus `message.*`) maps to one
idempotency key. Before the ack the message is journaled (bot/journal.py); right after it, the
first delivery to claim it queues the turn in the thread's queue, ordered by Slack `ts`
(bot/threads/intake.py), then posts the placeholder once a burst's acks are out. Whichever
process holds the thread's lease answers the queued turns one by one, so each answer chains to
the one before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import structlog

from bot.cancellation import raise_if_cancelling
from bot.journal import Held
from bot.logs import get_logger
from bot.services import AcceptGate, Services
from bot.spool import SpoolEntry
from bot.store_retry import STORE_DOWN, patiently
from bot.threads.conversation import answer_turn
from bot.threads.intake import (
    CLAIM_LEASE_S,
    DONE_TTL_S,
    PENDING,
    post_delayed_note,
    show_and_hand_over,
    take_in,
)
from bot.threads.messages import IncomingMessage
from storage import ThreadKey

log = get_logger("turns")

THREAD_LEASE_S = 6.0
"""Short, renewed every third of it: a killed holder's thread resumes elsewhere in seconds."""
POLL_S = 0.05
LEASE_RETRY_S = 0.2
"""How soon a failed lease renewal is tried again (the store may be back by then)."""
PLACEHOLDER_WAIT_S = 5.0


async def accept_message(services: Services, msg: IncomingMessage, *,
                         held: Held | None = None, spooled: SpoolEntry | None = None) -> None:
    """Answer a user message the listeners decided may be a turn: take it in (claim and queue
    it, or spool it), show that an answer is coming, and answer it or hand it on.

    `held` is its write-ahead journal entry, dropped once the store or spool has the message;
    `spooled`, its spool entry when it is replayed from there.
    """
    with (structlog.contextvars.bound_contextvars(thread=str(msg.key), turn=msg.ts),
          _in_arrival_order(services, msg.key) as my_turn):
        try:
            taken = await take_in(services, msg, spooled=spooled)
        except asyncio.CancelledError:
            if held is not None and services.journal is not None:
                services.journal.let_go(held)  # shutting down: replayed from the journal
                held = None
            raise
        finally:
            if held is not None and services.journal is not None:
                services.journal.done(held)  # in the store or the spool (or a bug, logged)
        if taken.outcome == "spooled":
            if taken.spool_path is not None:
                await post_delayed_note(services, msg, taken.spool_path)
            return
        if spooled is not None and services.spool is not None and taken.outcome != "later":
            services.spool.drop(spooled)  # the store has it now (or it was a duplicate)
        if taken.outcome != "queued":
            return
        try:
            if taken.payload is not None:  # this delivery queued it: show an answer is coming
                await my_turn()
                async with services.ack_first.follow_up():  # a burst's acks go first
                    if await show_and_hand_over(services, msg, taken):
                        return  # ROLE=web: a worker process answers it
            my_turn.through()  # the next message's placeholder need not wait for this answer
            if services.draining:
                services.metrics.turns.labels("handed_over").inc()
                log.info("turn_handed_over")  # queued: another process or the next start
                return
            await drain_thread(services, msg.key, wait_for_ts=msg.ts, claim=msg.idempotency_key)
            await services.store.complete_claim(msg.idempotency_key, services.owner, DONE_TTL_S)
        except STORE_DOWN:
            # The turn is queued in the store: the recovery sweep answers it once it is back.
            services.store_failed()
            log.warning("store_lost_while_answering", exc_info=True)


class _Place:
    """A message's place in its thread's line: `await place()` until those before it are
    through, then `place.through()` to let the next one go."""

    def __init__(self, before: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self._before = before
        self.mine = mine
        """Done once this message (and every one before it) is through."""

    async def __call__(self) -> None:
        if self._before is not None:
            await asyncio.shield(self._before)

    def through(self) -> None:
        if self.mine.done():
            return
        if self._before is None or self._before.done():
            self.mine.set_result(None)
        else:  # leaving early: the next one still waits for those before us
            self._before.add_done_callback(lambda _: self.through())


@contextlib.contextmanager
def _in_arrival_order(services: Services, key: ThreadKey) -> Iterator[_Place]:
    """Take the message's place in its thread's line at once (before any await), so that
    placeholders, which answers stream into, appear in arrival order even when taking one
    message in or posting its placeholder is slow."""
    gate = services.accepting.setdefault(key, AcceptGate())
    place = _Place(gate.last, asyncio.get_running_loop().create_future())
    gate.last = place.mine

    def forget(done: asyncio.Future[None]) -> None:
        if services.accepting.get(key) is gate and gate.last is done:
            del services.accepting[key]

    place.mine.add_done_callback(forget)
    try:
        yield place
    finally:
        place.through()


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
