"""Background loops stop when cancelled, even when redis-py turns the cancel into an error."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import bot.controls.stopping as stopping
import bot.threads.turns as turns
from bot.services import Services
from bot.store_retry import patiently
from bot.threads.recovery import answer_handed_over_threads, recover_pending_turns
from tests.support.harness import RunningBot

Loop = Callable[[Services], Coroutine[Any, Any, Any]]


def _never_ready(services: Services) -> Coroutine[Any, Any, Any]:
    async def blocked() -> None:  # a store call that never succeeds: retried "patiently"
        await services.store.wait_ready(0.05)
        raise ConnectionError("store down")
    return patiently(services, blocked, patience_s=3600)


LOOPS: dict[str, Loop] = {
    "thread lease renewal": lambda s: turns._keep_lease(s, "thread:{T1:C1:1.0}"),
    "claim renewal": lambda s: turns._keep_claim(s, "msg:T1:C1:1.0"),
    "stop polling": lambda s: stopping._poll_for_stop(
        s, "run-1", asyncio.get_running_loop().create_future()),
    "recovery sweep": lambda s: recover_pending_turns(s, interval_s=0.001),
    "worker hand-over wait": answer_handed_over_threads,
    "patient store call": _never_ready,
}


@pytest.mark.parametrize("name", list(LOOPS))
async def test_a_cancelled_loop_stops(name: str, bot: RunningBot,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Tight intervals so that most cancellations land in the middle of a Redis command, where
    # redis-py reports them as a ConnectionError instead of CancelledError.
    monkeypatch.setattr(turns, "THREAD_LEASE_S", 0.006)
    monkeypatch.setattr(turns, "CLAIM_LEASE_S", 0.006)
    monkeypatch.setattr(stopping, "STOP_POLL_S", 0.001)
    await bot.services.store.acquire_lease("thread:{T1:C1:1.0}", bot.services.owner, 60)
    rng = random.Random(11)
    for i in range(60):
        task = asyncio.create_task(LOOPS[name](bot.services))
        await asyncio.sleep(rng.random() * 0.01)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        assert done, f"{name} ignored its cancellation (round {i}): shutdown would hang"
