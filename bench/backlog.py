"""Benchmark: does a backlog on the worker move the web process's ack latency?

`make run` (`python -m bot.launch`: web + 1 worker) on a throwaway Redis against the local
fakes. Baseline: bench.run's idle/burst ack measurement with nothing else going on. Backlog:
the same measurement while 1,000 mentions (1,000 new threads over 100 channels, accepted by the
web) wait on the worker for slow answers (the fake Gemini streams each over ~10 min) and 1,000
`/gemini agent` runs (started through the web like a user would) are polled in the background
(the fake Gemini keeps them in progress). Queue depths are read from Redis while measuring.
Ratios are to a bare Bolt app measured in the same run. `make bench` or
`python -m bench.backlog [--runs 3] [--turns 1000] [--agent-runs 1000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from bench.common import (
    ROOT,
    bot_env,
    cpu_s,
    fakes,
    healthy,
    mentions,
    process_tree,
    send_events,
    stop,
)
from bench.run import BURST, IDLE, ack_latency, measure_acks
from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender
from tests.support.harness import SIGNING_SECRET
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

MODEL = "gemini-3.5-flash"
AGENT = "antigravity-preview-05-2026"
CHANNELS = tuple(f"CB{i:03d}" for i in range(100))
SETTLE_S = 10.0
"""Wait after the backlog is in place: every run polled at least once at its longest interval."""


def _slow_answer() -> Reply:
    """A streamed answer that takes ~10 minutes (a chunk a minute): its turn stays queued."""
    return Reply(chunks=[f"slow{i} " for i in range(10)], first_delay_s=1.0, delay_s=60.0)


async def _depths(r: aioredis.Redis) -> tuple[int, int]:
    """(threads with queued turns, scheduled background-run jobs) as Redis holds them now."""
    queued = int(await r.zcard("gs:pending"))
    runs = sum(1 for job in await r.zrange("gs:jobs:due", 0, -1)
               if job.startswith(b"agent:"))
    return queued, runs


def _gets(gemini: FakeGemini) -> int:
    return sum(1 for req in gemini.requests if req.method == "GET")


def _agent_interactions(gemini: FakeGemini) -> int:
    return sum(1 for rec in gemini.interactions.values() if rec.get("agent"))


async def _start_runs(url: str, n: int) -> None:
    """Start `n` background runs with `/gemini agent …` slash commands (10 at a time)."""
    sender = EventSender(url=url, signing_secret=SIGNING_SECRET)
    gate = asyncio.Semaphore(10)

    async def one(i: int) -> None:
        async with gate:
            delivery = await sender.send_command("/gemini", f"agent pending task {i}",
                                                 channel_id=CHANNELS[i % len(CHANNELS)])
            if delivery.status != 200:
                raise RuntimeError(f"/gemini agent not acked: HTTP {delivery.status}")

    await asyncio.gather(*(one(i) for i in range(n)))


async def _wait(ready: Callable[[], bool], since: float, what: str) -> None:
    """Wait until `ready()` (RuntimeError after 300 s from `since`)."""
    while not ready():
        if time.monotonic() - since > 300:
            raise RuntimeError(f"the backlog never built: {what}")
        await asyncio.sleep(0.5)


async def backlog_acks(redis_url: str, turns: int, runs: int) -> dict[str, float]:
    """Ack latency of the web while `turns` turns and `runs` background runs wait on 1 worker."""
    slack, gemini = await fakes()
    for channel in CHANNELS:
        slack.add_channel(channel, name=channel.lower())
    async with aioredis.from_url(redis_url) as r:
        await r.flushdb()
    port = free_port()
    env = bot_env(slack, gemini, redis_url, port, UPDATES_PER_MINUTE="100000",
                  GEMINI_TIMEOUT_S="900", GEMINI_TURN_TIMEOUT_S="900",
                  AGENT_POLL_MIN_S="2", AGENT_POLL_MAX_S="10", SHUTDOWN_GRACE_S="1")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.launch", cwd=ROOT,
                                                env=env)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        await healthy(port, proc)
        for _ in range(turns + IDLE + BURST):
            gemini.queue(_slow_answer(), model=MODEL)
        for _ in range(runs):
            gemini.queue(Reply(text="never", background_s=3600), model=AGENT)
        started = time.monotonic()
        # Runs first, so every run is created at Gemini before 1,000 slow answers hold a
        # connection each (the worker's Gemini client pool: bot/gemini.py MAX_CONNECTIONS).
        await _start_runs(url, runs)
        await _wait(lambda: _agent_interactions(gemini) >= runs, started, "interactions")
        _, events = mentions(slack, turns, "queued", CHANNELS)
        await send_events(url, events)
        async with aioredis.from_url(redis_url) as r:
            while True:
                queued, pending = await _depths(r)
                if queued >= turns and pending >= runs:
                    break
                if time.monotonic() - started > 300:
                    raise RuntimeError(f"backlog never built: {queued} queued, {pending} runs")
                await asyncio.sleep(0.5)
            built_s = time.monotonic() - started
            await asyncio.sleep(SETTLE_S)
            seen: list[tuple[int, int]] = []

            async def sample() -> None:
                while True:
                    seen.append(await _depths(r))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            gets, t0 = _gets(gemini), time.monotonic()
            _, web, worker = process_tree(proc.pid)
            web_cpu, worker_cpu = cpu_s([web]), cpu_s([worker])
            try:
                acks, _ = await measure_acks(slack, url)
            finally:
                sampler.cancel()
            took = time.monotonic() - t0
            polls_per_s = (_gets(gemini) - gets) / took
            acks["ack_cpu_ms"] = (cpu_s([web]) - web_cpu) * 1000 / (IDLE + BURST)
            worker_busy = (cpu_s([worker]) - worker_cpu) / took
            seen.append(await _depths(r))
        in_progress = sum(1 for rec in gemini.interactions.values()
                          if rec.get("status") == "in_progress")
        return acks | {
            "built_s": built_s,
            "queued_min": float(min(q for q, _ in seen)),
            "queued_max": float(max(q for q, _ in seen)),
            "runs_min": float(min(p for _, p in seen)),
            "runs_max": float(max(p for _, p in seen)),
            "in_progress": float(in_progress), "polls_per_s": polls_per_s,
            "worker_busy": worker_busy,
        }
    finally:
        await stop(proc)
        await gemini.stop(check=False)
        await slack.stop()


def _median(results: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in results)


async def main(runs: int, turns: int, agent_runs: int) -> None:
    """Measure bare Bolt, web + 1 worker without and with a backlog; print medians."""
    results: dict[str, list[dict[str, float]]] = {"bare": [], "baseline": [], "backlog": []}
    with RedisServer() as server:
        for _ in range(runs):
            results["bare"].append(await ack_latency(server.url, "bare"))
            results["baseline"].append(await ack_latency(server.url, "split"))
            results["backlog"].append(await backlog_acks(server.url, turns, agent_runs))
    keys = ("idle_p99_ms", "burst_p50_ms", "burst_p99_ms", "burst_max_ms", "ack_cpu_ms")
    med = {name: {k: _median(res, k) for k in keys} for name, res in results.items()}
    print(f"benchmark: make run (web + 1 worker) ack latency with {turns} queued turns and "
          f"{agent_runs} pending background runs on the worker ({runs} runs, medians)")
    print(f"  {'':<30} {'idle p99':>9} {'burst p50':>10} {'burst p99':>10} {'burst max':>10} "
          f"{'idle p99 vs bare':>17} {'burst p99 vs bare':>18} {'CPU/ack':>11}")
    labels = {"bare": "bare Bolt app", "baseline": "web + 1 worker, no backlog",
              "backlog": "web + 1 worker, backlog"}
    for name, m in med.items():
        print(f"  {labels[name]:<30} {m['idle_p99_ms']:>6.1f} ms {m['burst_p50_ms']:>7.1f} ms "
              f"{m['burst_p99_ms']:>7.1f} ms {m['burst_max_ms']:>7.1f} ms "
              f"{m['idle_p99_ms'] / med['bare']['idle_p99_ms']:>16.1f}x "
              f"{m['burst_p99_ms'] / med['bare']['burst_p99_ms']:>17.1f}x "
              f"{m['ack_cpu_ms']:>8.2f} ms")
    ratios = "  ".join(f"{k.removesuffix('_ms')} {med['backlog'][k] / med['baseline'][k]:.2f}x"
                       for k in keys)
    print(f"  backlog / baseline: {ratios}")
    def each(fmt: str) -> str:
        return ", ".join(fmt.format(**r) for r in results["backlog"])

    print(f"  backlog while measuring (each run): threads with queued turns "
          f"{each('{queued_min:.0f}-{queued_max:.0f}')}; pending background-run jobs "
          f"{each('{runs_min:.0f}-{runs_max:.0f}')}; interactions still in progress at the fake "
          f"Gemini afterwards {each('{in_progress:.0f}')}; run polls while measuring "
          f"{each('{polls_per_s:.1f}')} GET/s; worker CPU while measuring "
          f"{each('{worker_busy:.0%}')}; backlog built in "
          f"{each('{built_s:.0f}')} s")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--agent-runs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.turns, args.agent_runs))
