"""Benchmark: Socket Mode ack latency of a bare Bolt app, `python -m bot` and `make run`.

The time from Slack sending an envelope over the socket to receiving its ack, idle (30
envelopes, 0.1 s apart) and a burst of 200 sent back to back, while the bot answers each
event with a ~1 s streamed answer. The socket is served by a separate process
(bench/socket_hub.py) so the fakes' busy event loop does not skew the timing.
`make bench` or `python -m bench.socket_acks [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from typing import Any

import redis.asyncio as aioredis

from bench.common import ROOT, bot_env, fakes, healthy, mentions, pct, stop
from bench.run import BURST, IDLE
from fakes.gemini import Reply
from fakes.slack import EventSender, FakeSlack
from tests.support.harness import SIGNING_SECRET
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

APP_TOKEN = "xapp-bench"
LABELS = {"bare": "bare Bolt app (no answers)", "all": "ROLE=all (one process)",
          "split": "make run: web + 1 worker"}


async def _listening(port: int) -> None:
    for _ in range(400):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the Socket Mode sender never listened")


def _answered(slack: FakeSlack, where: list[tuple[str, str]], final: str) -> int:
    return sum(1 for channel, ts in where
               if [m.visible.strip() for m in slack.visible_thread(channel, ts)
                   if m.bot_id] == [final])


async def socket_ack_latency(redis_url: str, target: str) -> dict[str, float]:
    """Ack latency over the socket of "bare" (bare Bolt), "all" (`python -m bot`) or "split"
    (`python -m bot.launch`: web + worker); the bot answers every event meanwhile."""
    slack, gemini = await fakes()
    async with aioredis.from_url(redis_url) as r:
        await r.flushdb()
    hub_port, port = free_port(), free_port()
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.socket_hub", str(hub_port), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    slack.socket_url = f"ws://127.0.0.1:{hub_port}"
    if target == "bare":
        args = ["-m", "bench.bare_bolt", str(port), slack.api_url, SIGNING_SECRET, APP_TOKEN]
    else:
        args = ["-m", "bot" if target == "all" else "bot.launch"]
    env = bot_env(slack, gemini, redis_url, port, SLACK_APP_TOKEN=APP_TOKEN,
                  UPDATES_PER_MINUTE="100000")
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode: no request signing
    proc: asyncio.subprocess.Process | None = None
    try:
        await _listening(hub_port)
        proc = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.DEVNULL)
        await healthy(port, proc)
        if target == "split":
            await healthy(port + 1, proc)
        words = [f"w{i:02d} " for i in range(20)]
        for _ in range(IDLE + BURST):
            gemini.queue(Reply(chunks=words, delay_s=0.05))
        wrap = EventSender(url="", signing_secret=SIGNING_SECRET).envelope
        idle_ts, idle_events = mentions(slack, IDLE, "idle")
        burst_ts, burst_events = mentions(slack, BURST, "burst")
        job = {"idle": [wrap(e) for e in idle_events], "gap_s": 0.1,
               "burst": [wrap(e) for e in burst_events]}
        assert hub.stdin is not None and hub.stdout is not None
        hub.stdin.write(json.dumps(job).encode())
        await hub.stdin.drain()
        hub.stdin.close()
        line = await hub.stdout.readline()
        if not line:
            raise RuntimeError("the Socket Mode sender failed")
        result: dict[str, Any] = json.loads(line)
        idle, burst = result["idle"], result["burst"]
        answered = 0
        if target != "bare":
            final, deadline = "".join(words).strip(), time.monotonic() + 180
            while (answered := _answered(slack, idle_ts + burst_ts, final)) < IDLE + BURST \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        return {"idle_p99_ms": pct(idle, 0.99), "burst_p50_ms": pct(burst, 0.5),
                "burst_p99_ms": pct(burst, 0.99), "burst_max_ms": max(burst),
                "answered": float(answered), "connections": float(result["connections"])}
    finally:
        for p in (proc, hub):
            if p is not None:
                await stop(p)
        await gemini.stop(check=False)
        await slack.stop()


async def main(runs: int) -> None:
    """Run each target `runs` times and print medians, with ratios to bare Bolt."""
    with RedisServer() as server:
        results = {target: [await socket_ack_latency(server.url, target) for _ in range(runs)]
                   for target in LABELS}
    med = {target: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for target, rs in results.items()}
    bare = med["bare"]
    print(f"benchmark: Socket Mode acks (envelope sent -> ack received; {runs} runs, medians)")
    print(f"  {'process acking':<30} {'idle p99':>9} {'burst p50':>10} {'burst p99':>10} "
          f"{'burst max':>10} {'burst p99/bare':>14} {'idle p99/bare':>13} {'answered':>9} "
          f"{'sockets':>7}")
    for target, m in med.items():
        answered = f"{m['answered']:.0f}/{IDLE + BURST}" if target != "bare" else "-"
        print(f"  {LABELS[target]:<30} {m['idle_p99_ms']:>6.1f} ms {m['burst_p50_ms']:>7.1f} ms "
              f"{m['burst_p99_ms']:>7.1f} ms {m['burst_max_ms']:>7.1f} ms "
              f"{m['burst_p99_ms'] / bare['burst_p99_ms']:>13.1f}x "
              f"{m['idle_p99_ms'] / bare['idle_p99_ms']:>12.1f}x {answered:>9} "
              f"{m['connections']:>7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
