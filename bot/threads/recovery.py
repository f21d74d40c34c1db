"""Finds work a stopped or crashed process left behind, or that waited out a store outage."""

from __future__ import annotations

import asyncio

from bot.cancellation import raise_if_cancelling
from bot.logs import get_logger
from bot.services import Services
from bot.store_retry import STORE_DOWN
from bot.threads.messages import IncomingMessage
from bot.threads.turns import accept_message, drain_thread
from storage import ThreadKey

log = get_logger("recovery")

SWEEP_INTERVAL_S = 2.0
"""How often queued turns whose thread lease is free are looked for (a dead holder's lease
expires after `THREAD_LEASE_S`, so a crashed answer resumes within about the sum of both)."""
REPLAY_INTERVAL_S = 0.5
REPLAY_MAX_INTERVAL_S = 5.0


async def recover_pending_turns(
    services: Services, *, interval_s: float = SWEEP_INTERVAL_S
) -> None:
    """Drain every thread with queued turns whose lease is free, now and then periodically.

    Slack does not redeliver an event the bot already acknowledged, so a turn queued by a
    process that died would otherwise be lost.
    """
    while not services.draining:
        raise_if_cancelling()
        try:
            pending = await services.store.pending_threads()
            services.metrics.queued_threads.set(len(pending))
            for key in pending:
                await drain_thread(services, key)
        except asyncio.CancelledError:
            raise
        except STORE_DOWN:
            services.store_failed()
        except Exception:
            log.exception("recovery_sweep_failed")
        await asyncio.sleep(interval_s)


async def replay_spool(services: Services, *, interval_s: float = REPLAY_INTERVAL_S,
                       max_interval_s: float = REPLAY_MAX_INTERVAL_S) -> None:
    """While messages wait in the local spool (or the store is down), check the store with
    backoff; once it answers, accept each spooled message again (oldest first)."""
    spool = services.spool
    delay = interval_s
    while True:
        raise_if_cancelling()
        await asyncio.sleep(delay)
        try:
            if spool is not None and services.journal is not None:
                services.journal.recover(spool)  # journaled by a process that died
            waiting = spool.pending() if spool is not None else 0
            if not waiting and services.store_down_since is None:
                delay = interval_s
                continue
            if not await services.store.ping():
                services.store_failed()
                delay = min(max_interval_s, delay * 2)
                continue
            services.store_answered()
            delay = interval_s
            if spool is None or not waiting:
                continue
            entries = spool.take()
            if entries:
                log.info("spool_replay", messages=len(entries))
            for entry in entries:
                msg = IncomingMessage.from_payload(entry.message)
                services.spawn(accept_message(services, msg, spooled=entry),
                               name=f"turn-{msg.channel_id}-{msg.ts}")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("spool_replay_failed")


READY_WAIT_S = 1.0
"""How long one BLPOP for handed-over threads blocks (below the Redis socket timeout)."""


async def answer_handed_over_threads(services: Services) -> None:
    """Worker loop: answer the threads web processes hand over, each in a task of its own."""
    while not services.draining:
        raise_if_cancelling()
        try:
            key = await services.store.wait_ready(READY_WAIT_S)
        except asyncio.CancelledError:
            raise
        except STORE_DOWN:
            services.store_failed()
            await asyncio.sleep(READY_WAIT_S)
            continue
        if key is not None:
            services.spawn(_drain_quietly(services, key), name=f"turn-drain-{key}")


async def _drain_quietly(services: Services, key: ThreadKey) -> None:
    """Drain a handed-over thread; if the store went away, the recovery sweep resumes it."""
    try:
        await drain_thread(services, key)
    except STORE_DOWN:
        services.store_failed()
