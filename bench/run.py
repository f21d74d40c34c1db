"""Benchmarks for thread conversations: event ack latency, streaming delays, Slack writes.

Runs the real bot (Bolt over aiohttp, real SDK clients, Redis) against the local fakes and
prints medians over several runs. `make bench` or `python -m bench.run [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.common import (
    ROOT,
    bot_env,
    cpu_s,
    fakes,
    healthy,
    mentions,
    pct,
    process_tree,
    send_events,
    stop,
)
from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from storage import RedisStore
from tests.support.harness import SIGNING_SECRET, RunningBot, start_bot
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer


async def _world(redis_url: str, **overrides: Any) -> tuple[FakeSlack, FakeGemini, RunningBot]:
    slack, gemini = await fakes()
    store = RedisStore.from_url(redis_url)
    await store.client.flushdb()
    bot = await start_bot(slack, gemini, store, **({"edit_interval_s": 1.0} | overrides))
    return slack, gemini, bot


async def _teardown(slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    await bot.stop()
    await gemini.stop(check=False)
    await slack.stop()


BURST = 200
IDLE = 30


async def measure_acks(slack: FakeSlack,
                       url: str) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """Deliver 30 mentions 0.1 s apart, then a burst of 200 back to back (each a new thread in
    C1): idle p99 and burst p50/p99/max ack latency (ms), and where the mentions were posted."""
    idle_at, idle_events = mentions(slack, IDLE, "idle")
    idle = await send_events(url, idle_events, gap_s=0.1)
    burst_at, burst_events = mentions(slack, BURST, "burst")
    burst = await send_events(url, burst_events)
    return ({"idle_p99_ms": pct(idle, 0.99), "burst_p50_ms": pct(burst, 0.5),
             "burst_p99_ms": pct(burst, 0.99), "burst_max_ms": max(burst)},
            idle_at + burst_at)


async def ack_latency(redis_url: str, target: str) -> dict[str, float]:
    """Ack latency of a separate process: idle (30 events, 0.1 s apart) and a burst of 200.

    `target`: "bare" (a bare Bolt app), "all" (`python -m bot`, one process) or "split"
    (`python -m bot.launch`: a web and a worker process). The bot answers every event with
    a ~1 s streamed answer meanwhile; the workspace edit budget is lifted (that is pacing).
    """
    slack, gemini = await fakes()
    async with aioredis.from_url(redis_url) as r:
        await r.flushdb()
    port = free_port()
    if target == "bare":
        args = ["-m", "bench.bare_bolt", str(port), slack.api_url, SIGNING_SECRET]
    else:
        args = ["-m", "bot" if target == "all" else "bot.launch"]
    env = bot_env(slack, gemini, redis_url, port, UPDATES_PER_MINUTE="100000")
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=ROOT, env=env)
    try:
        await healthy(port, proc)
        words = [f"w{i:02d} " for i in range(20)]
        for _ in range(IDLE + BURST):
            gemini.queue(Reply(chunks=words, delay_s=0.05))
        web = process_tree(proc.pid)[1:2] if target == "split" else [proc.pid]
        cpu_before = cpu_s(web)
        acks, posted = await measure_acks(slack, f"http://127.0.0.1:{port}/slack/events")
        acks["ack_cpu_ms"] = (cpu_s(web) - cpu_before) * 1000 / (IDLE + BURST)
        answered = 0
        if target != "bare":
            final = "".join(words).strip()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                answered = sum(1 for ch, ts in posted
                               if [m.visible.strip() for m in slack.visible_thread(ch, ts)
                                   if m.bot_id] == [final])
                if answered == IDLE + BURST:
                    break
                await asyncio.sleep(0.2)
        return acks | {"answered": float(answered)}
    finally:
        await stop(proc)
        await gemini.stop(check=False)
        await slack.stop()


def _peak_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


async def sustained(redis_url: str, rate: float, seconds: float,
                    answer_s: float) -> dict[str, float]:
    """`make run` (web + 1 worker) under `rate` mentions/s for `seconds`, each answered with
    an `answer_s`-second streamed answer, the fake Slack enforcing its rate limits."""
    slack, gemini = await fakes()
    slack.rate_limits = True
    async with aioredis.from_url(redis_url) as r:
        await r.flushdb()
    port = free_port()
    env = bot_env(slack, gemini, redis_url, port)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.launch", cwd=ROOT,
                                                env=env)
    try:
        await healthy(port, proc)
        await asyncio.sleep(0.5)
        pids = process_tree(proc.pid)
        cpu_before = cpu_s(pids)
        n = int(rate * seconds)
        chunks = max(1, int(answer_s * 4))
        words = [f"w{i:03d} " for i in range(chunks)]
        for _ in range(n):
            gemini.queue(Reply(chunks=words, delay_s=answer_s / chunks))
        channels = [f"CL{i}" for i in range(50)]  # Slack's posting limits are per channel
        for ch in channels:
            slack.add_channel(ch, name=ch.lower())
        sender = EventSender(url="", signing_secret=SIGNING_SECRET)
        stamps, events = [], []
        for i in range(n):
            ch = channels[i % len(channels)]
            ts = slack.post_user_message(ch, user="U1", text=f"<@UBOT> s{i}")
            stamps.append((ch, ts))
            events.append(sender.app_mention(ch, "U1", f"<@UBOT> s{i}", ts))
        started = time.monotonic()
        acks = await send_events(f"http://127.0.0.1:{port}/slack/events", events, rate=rate)
        final = "".join(words).strip()
        answered = 0
        while time.monotonic() - started < seconds + 600:
            answered = sum(1 for ch, ts in stamps
                           if [m.visible.strip() for m in slack.visible_thread(ch, ts)
                               if m.bot_id] == [final])
            if answered == n:
                break
            await asyncio.sleep(1.0)
        took = time.monotonic() - started
        cpu = cpu_s(pids) - cpu_before
        updates = sorted(c.at for c in slack.calls_to("chat.update"))
        per_minute = max((sum(1 for u in updates if t <= u < t + 60) for t in updates), default=0)
        return {"events": float(n), "answered": float(answered), "creates": len(gemini.creates),
                "ack_p50_ms": pct(acks, 0.5), "ack_p99_ms": pct(acks, 0.99),
                "all_answered_after_s": took, "cpu_s_per_answer": cpu / max(1, answered),
                "peak_rss_mb": _peak_rss_mb(pids), "chat_update_max_per_min": float(per_minute),
                "slack_429s": float(sum(1 for c in slack.calls if c.status == 429))}
    finally:
        await stop(proc, 60)
        await gemini.stop(check=False)
        await slack.stop()


WRITE_METHODS = ("chat.postMessage", "chat.update", "chat.delete", "chat.startStream",
                 "chat.appendStream", "chat.stopStream", "assistant.threads.setStatus")


async def streaming_delays(redis_url: str, mode: str, seconds: float = 10.0) -> dict[str, float]:
    """Bot-added delay to first visible text and to the final write, and Slack writes per answer."""
    slack, gemini, bot = await _world(redis_url, slack_streaming=mode)
    try:
        chunks = 100
        delay = seconds / chunks
        first_delay = 0.5
        words = [f"w{i:03d} " for i in range(chunks)]
        gemini.queue(Reply(chunks=words, delay_s=delay, first_delay_s=first_delay))
        ts = slack.post_user_message("C1", user="U1", text="<@UBOT> stream")
        await bot.send(bot.sender.app_mention("C1", "U1", "<@UBOT> stream", ts))
        await bot.settle(timeout=60)
        rec = gemini.record(next(iter(gemini.interactions)))
        text_times = [at for ev, at in zip(rec.events, rec.event_times, strict=True)
                      if ev["event_type"] == "step.delta" and ev["delta"].get("type") == "text"]
        first_delta_at, last_delta_at = text_times[0], text_times[-1]
        writes = [c for c in slack.calls if c.method in WRITE_METHODS]
        with_text = [c for c in writes if "w000" in _text_of(c.args)]
        return {
            "first_visible_ms": (with_text[0].at - first_delta_at) * 1000,
            "final_edit_ms": (writes[-1].at - last_delta_at) * 1000,
            "slack_writes": float(len(writes)),
        }
    finally:
        await _teardown(slack, gemini, bot)


def _text_of(args: dict[str, Any]) -> str:
    return "".join(str(args.get(k, "")) for k in ("text", "blocks", "markdown_text", "chunks"))


async def main(runs: int) -> None:
    """Run each benchmark `runs` times and print medians (acks as ratios to bare Bolt)."""
    with RedisServer() as server:
        acks = {target: [await ack_latency(server.url, target) for _ in range(runs)]
                for target in ("bare", "all", "split")}
        streams = {mode: [await streaming_delays(server.url, mode) for _ in range(runs)]
                   for mode in ("edit", "native")}
    print(f"benchmark: event acks and thread conversations ({runs} runs, medians)")
    bare = {k: statistics.median(a[k] for a in acks["bare"]) for k in acks["bare"][0]}
    print(f"  {'process acking':<34} {'idle p99':>9} {'burst p50':>10} {'burst p99':>10} "
          f"{'burst max':>10} {'p99 vs bare':>12} {'answered':>9}")
    labels = {"bare": "bare Bolt app (no answers)", "all": "ROLE=all (one process)",
              "split": "make run: web + 1 worker"}
    for target, results in acks.items():
        med = {k: statistics.median(a[k] for a in results) for k in results[0]}
        ratio = f"{med['burst_p99_ms'] / bare['burst_p99_ms']:.1f}x" if target != "bare" else "1.0x"
        idle_ratio = med["idle_p99_ms"] / bare["idle_p99_ms"]
        answered = f"{med['answered']:.0f}/{IDLE + BURST}" if target != "bare" else "-"
        print(f"  {labels[target]:<34} {med['idle_p99_ms']:>6.1f} ms "
              f"{med['burst_p50_ms']:>7.1f} ms {med['burst_p99_ms']:>7.1f} ms "
              f"{med['burst_max_ms']:>7.1f} ms {ratio:>12} "
              f"{answered:>9}   (idle p99 {idle_ratio:.1f}x bare)")
    for mode, runs_of_mode in streams.items():
        def med_of(key: str, values: list[dict[str, float]] = runs_of_mode) -> float:
            return statistics.median(v[key] for v in values)

        print(f"  SLACK_STREAMING={mode}: model's first delta -> first visible Slack update "
              f"{med_of('first_visible_ms'):.0f} ms; last delta -> final write "
              f"{med_of('final_edit_ms'):.0f} ms; Slack write calls for a 10 s answer "
              f"{med_of('slack_writes'):.0f}")


async def main_sustained(rate: float, seconds: float, answer_s: float) -> None:
    """Run the sustained-load benchmark once and print its table."""
    with RedisServer() as server:
        res = await sustained(server.url, rate, seconds, answer_s)
    print(f"benchmark: sustained load, make run (web + 1 worker): {rate:g} mentions/s for "
          f"{seconds:g} s, {answer_s:g} s streamed answers, fake Slack enforcing its limits")
    for key, value in res.items():
        print(f"  {key:<26} {value:,.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sustained", action="store_true",
                        help="run the sustained-load benchmark instead")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--answer-s", type=float, default=5.0)
    args = parser.parse_args()
    if args.sustained:
        asyncio.run(main_sustained(args.rate, args.seconds, args.answer_s))
    else:
        asyncio.run(main(args.runs))
