"""bot.jobs.runner against both store backends: due jobs run once, again, after failures, and
move to another process when their holder stops renewing."""

from __future__ import annotations

import asyncio
import random
import time

from bot.jobs import Done, Job, JobRunner, RunAgain
from storage import RedisStore, Store


async def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_job_runs_again_until_done(store: Store) -> None:
    seen: list[dict] = []

    async def poll(job: Job) -> Done | RunAgain:
        seen.append(job.data)
        n = job.data["n"]
        return Done() if n == 3 else RunAgain(time.time(), {"n": n + 1})

    runner = JobRunner(store.jobs, "p1", idle_tick_s=0.05)
    runner.register("poll", poll)
    task = asyncio.create_task(runner.run())
    try:
        await runner.schedule("poll:r1", "poll", time.time(), {"n": 1})
        await wait_for(lambda: len(seen) == 3)
        await wait_for(lambda: not runner.running)
        assert seen == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert await store.jobs.get("poll:r1") is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_handler_is_retried_later_with_a_count(store: Store) -> None:
    async def boom(job: Job) -> Done:
        raise RuntimeError("Gemini said 503")

    runner = JobRunner(store.jobs, "p1")
    runner.register("poll", boom)
    await store.jobs.schedule("poll:r1", "poll", time.time(), {})
    assert await runner.run_due() == 1
    await wait_for(lambda: not runner.running)
    stored = await store.jobs.get("poll:r1")
    assert stored is not None and stored.owner is None
    assert time.time() + 1 < stored.due_at < time.time() + 3  # first backoff: 2 s
    [job] = await store.jobs.claim_due("p2", stored.due_at, 30, 1)
    assert job.attempts == 1


async def test_a_job_whose_holder_stalls_is_taken_over_and_runs_once_more(
    redis_flushed: str,
) -> None:
    first, second = RedisStore.from_url(redis_flushed), RedisStore.from_url(redis_flushed)
    runs: list[str] = []
    stalled = asyncio.Event()

    async def slow(job: Job) -> Done:
        runs.append("p1")
        stalled.set()
        await asyncio.sleep(60)
        return Done()

    async def quick(job: Job) -> Done:
        runs.append("p2")
        return Done()

    # p1 claims with a short lease and never renews it (its keeper would; we stop it cold).
    r1 = JobRunner(first.jobs, "p1", lease_s=0.3)
    r1.register("poll", slow)
    r1._keep_lease = lambda job: asyncio.sleep(3600)  # type: ignore[method-assign]
    r2 = JobRunner(second.jobs, "p2", lease_s=0.3, idle_tick_s=0.05)
    r2.register("poll", quick)
    try:
        await first.jobs.schedule("poll:r1", "poll", time.time(), {})
        await r1.run_due()
        await stalled.wait()
        task = asyncio.create_task(r2.run())
        await wait_for(lambda: runs == ["p1", "p2"])
        await wait_for(lambda: not r2.running)
        assert await second.jobs.get("poll:r1") is None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await r1.stop()
        await first.close()
        await second.close()


async def test_cancel_always_stops_the_runner(store: Store) -> None:
    # Cancellations get lost on the way: Python 3.11's wait_for drops one that arrives with
    # the awaited event, redis-py turns one mid-command into a ConnectionError. The runner must
    # stop anyway (or SIGTERM and shutdown hang).
    rng = random.Random(7)
    for i in range(150):
        runner = JobRunner(store.jobs, "p1", idle_tick_s=0.002 if i % 2 else 5.0)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(rng.random() * 0.005)
        if rng.random() < 0.5:
            runner.wake()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        assert done, f"the runner ignored its cancellation (round {i})"
