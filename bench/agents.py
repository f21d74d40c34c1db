"""Benchmark: many pending background runs on one bot process vs. its event ack latency.

Starts one real `python -m bot` process on Redis against the local fakes, measures the ack
latency of signed `app_mention` deliveries with no runs pending, then starts N agent runs with
`/gemini agent` (each stays in progress), waits until every run is being polled, and measures
again while the process polls them all. Also prints the poll rate (GETs per second) against
the ideal of one GET per run per interval. `make bench` or
`python -m bench.agents [--runs 1000] [--events 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

import aiohttp

from bench.common import ROOT, pct
from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from storage import RedisStore
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, SIGNING_SECRET
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

AGENT = "antigravity-preview-05-2026"


async def _spawn(slack: FakeSlack, gemini: FakeGemini, redis_url: str,
                 env_extra: dict[str, str]) -> tuple[asyncio.subprocess.Process, EventSender]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_url, PORT=str(port),
               LOG_LEVEL="warning", PYTHONPATH=str(ROOT), UPDATES_PER_MINUTE="100000",
               **env_extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the bot never became healthy")
    return proc, EventSender(url=f"http://127.0.0.1:{port}/slack/events",
                             signing_secret=SIGNING_SECRET, team_id="T1",
                             bot_user_id="UBOT")


async def _acks(slack: FakeSlack, sender: EventSender, events: int) -> list[float]:
    latencies = []
    for i in range(events):
        ts = slack.post_user_message("C1", user="U1", text=f"<@UBOT> q{i}")
        event = sender.app_mention("C1", "U1", f"<@UBOT> q{i}", ts)
        started = time.perf_counter()
        status, *_ = await sender.send_event(event)
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200
        await asyncio.sleep(0.01)
    return latencies


def _gets(gemini: FakeGemini) -> int:
    return sum(1 for r in gemini.requests if r.method == "GET")


async def main(runs: int, events: int, poll_min: float, poll_max: float) -> None:
    """Print ack latency without and with `runs` pending runs, and the poll rate."""
    with RedisServer() as server:
        store = RedisStore.from_url(server.url)
        await store.client.flushdb()
        await store.close()
        slack = FakeSlack(bot_token=BOT_TOKEN, app_token="xapp-bench", team_id="T1",
                          bot_user_id="UBOT", bot_id="BBOT")
        await slack.start()
        slack.rate_limits = False
        slack.add_user("U1", name="alice")
        slack.add_channel("C1", name="general")
        gemini = FakeGemini(api_key=GEMINI_KEY)
        await gemini.start()
        proc, sender = await _spawn(slack, gemini, server.url, {
            "AGENT_POLL_MIN_S": str(poll_min), "AGENT_POLL_MAX_S": str(poll_max)})
        try:
            idle = await _acks(slack, sender, events)
            for _ in range(runs):
                gemini.queue(Reply(text="never", background_s=3600), model=AGENT)
            started = time.perf_counter()
            for i in range(runs):
                await sender.send_command("/gemini", f"agent pending task {i}")
            while sum(1 for r in gemini.interactions.values() if r.get("agent")) < runs:
                await asyncio.sleep(0.1)
            ramp = time.perf_counter() - started
            await asyncio.sleep(poll_max * 2)  # every run at its longest interval
            window = 10.0
            before, t0 = _gets(gemini), time.perf_counter()
            busy = await _acks(slack, sender, events)
            await asyncio.sleep(max(0.0, window - (time.perf_counter() - t0)))
            rate = (_gets(gemini) - before) / (time.perf_counter() - t0)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            await gemini.stop(check=False)
            await slack.stop()
    print(f"benchmark: {runs} pending background runs on one bot process "
          f"(AGENT_POLL_MIN_S={poll_min}, AGENT_POLL_MAX_S={poll_max})")
    print(f"  {runs} runs started with /gemini agent in {ramp:.1f} s "
          f"({runs / ramp:.0f} runs/s incl. cards and interaction creates)")
    print(f"  event ack latency, no runs pending:  p50 {pct(idle, 0.5):.1f} ms, "
          f"p99 {pct(idle, 0.99):.1f} ms ({events} events)")
    print(f"  event ack latency, {runs} runs polled: p50 {pct(busy, 0.5):.1f} ms, "
          f"p99 {pct(busy, 0.99):.1f} ms ({events} events)")
    print(f"  polling: {rate:.1f} GET/s measured; ideal one GET per run per interval = "
          f"{runs / poll_max:.1f} GET/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--poll-min", type=float, default=2.0)
    parser.add_argument("--poll-max", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.events, args.poll_min, args.poll_max))
