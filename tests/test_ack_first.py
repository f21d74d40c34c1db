"""`AckFirst`: follow-up work waits while events are acked, then enters a few at a time, FIFO."""

from __future__ import annotations

import asyncio
import time

from bot.ack_first import AckFirst


async def _enter(gate: AckFirst, name: str, log: list[str], hold_s: float = 0.0,
                 inside: list[int] | None = None) -> None:
    async with gate.follow_up():
        log.append(name)
        if inside is not None:
            inside.append(gate.running)
        await asyncio.sleep(hold_s)


async def test_work_waits_for_a_quiet_moment_after_the_last_ack() -> None:
    gate = AckFirst(quiet_s=0.05, max_wait_s=5.0)
    entered: list[str] = []
    with gate.acking():
        work = asyncio.create_task(_enter(gate, "turn", entered))
        await asyncio.sleep(0.1)
        assert entered == []  # still acking
    acked_at = time.monotonic()
    await work
    waited = time.monotonic() - acked_at
    assert entered == ["turn"]
    assert 0.04 <= waited < 1.0


async def test_with_no_ack_in_sight_work_starts_at_once() -> None:
    gate = AckFirst(quiet_s=0.05)
    started = time.monotonic()
    await _enter(gate, "turn", [])
    assert time.monotonic() - started < 0.03


async def test_waiting_work_enters_in_arrival_order_a_few_at_a_time() -> None:
    gate = AckFirst(quiet_s=0.01, max_wait_s=5.0, concurrency=2)
    entered: list[str] = []
    running: list[int] = []
    with gate.acking():
        tasks = [asyncio.create_task(_enter(gate, f"t{i}", entered, 0.03, running))
                 for i in range(6)]
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    assert entered == [f"t{i}" for i in range(6)]
    assert max(running) == 2


async def test_a_flood_of_acks_delays_work_by_max_wait_at_most() -> None:
    gate = AckFirst(quiet_s=0.05, max_wait_s=0.2)
    entered: list[str] = []
    started = time.monotonic()
    with gate.acking():  # acking never stops meanwhile
        await _enter(gate, "turn", entered)
        waited = time.monotonic() - started
    assert entered == ["turn"]
    assert 0.18 <= waited < 1.0


async def test_slow_work_gives_its_slot_back_after_slot_s() -> None:
    gate = AckFirst(quiet_s=0.01, max_wait_s=5.0, concurrency=1, slot_s=0.1)
    entered: list[str] = []
    slow = asyncio.create_task(_enter(gate, "slow", entered, hold_s=2.0))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await _enter(gate, "next", entered)
    assert entered == ["slow", "next"]
    assert time.monotonic() - started < 1.0  # not held back for the slow one's 2 s
    slow.cancel()


async def test_cancelled_waiters_leave_no_slot_taken() -> None:
    gate = AckFirst(quiet_s=0.01, max_wait_s=5.0, concurrency=1)
    entered: list[str] = []
    with gate.acking():
        doomed = [asyncio.create_task(_enter(gate, f"d{i}", entered)) for i in range(3)]
        await asyncio.sleep(0.01)
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
    await asyncio.sleep(0.03)
    assert gate.running == 0
    await asyncio.wait_for(_enter(gate, "later", entered), 1.0)
    assert entered == ["later"]
