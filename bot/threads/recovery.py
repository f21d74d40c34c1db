"""Finds turns that a stopped or crashed process left queued, and answers them."""

from __future__ import annotations

import asyncio

from bot.logs import get_logger
from bot.services import Services
from bot.threads.turns import drain_thread

log = get_logger("recovery")

SWEEP_INTERVAL_S = 30.0


async def recover_pending_turns(
    services: Services, *, interval_s: float = SWEEP_INTERVAL_S
) -> None:
    """Drain every thread with queued turns whose lease is free, now and then periodically.

    Slack does not redeliver an event the bot already acknowledged, so a turn queued by a
    process that died would otherwise be lost.
    """
    while True:
        try:
            for key in await services.store.pending_threads():
                await drain_thread(services, key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovery_sweep_failed")
        await asyncio.sleep(interval_s)
