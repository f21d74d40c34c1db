"""Benchmarks for thread conversations: event ack latency, streaming delays, Slack writes.

Runs the real bot (Bolt over aiohttp, real SDK clients, Redis) against the local fakes and
prints medians over several runs. `make bench` or `python -m bench.run [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from storage import RedisStore
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, RunningBot, start_bot
from tests.support.redis_server import RedisServer


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _world(redis_url: str, **overrides: Any) -> tuple[FakeSlack, FakeGemini, RunningBot]:
    slack = FakeSlack(bot_token=BOT_TOKEN, app_token="xapp-bench", team_id="T1",
                      bot_user_id="UBOT", bot_id="BBOT")
    await slack.start()
    slack.add_user("U1", name="alice")
    slack.add_channel("C1", name="general")
    slack.rate_limits = False  # measure the bot's own pacing, not the fake's limiter
    gemini = FakeGemini(api_key=GEMINI_KEY)
    await gemini.start()
    store = RedisStore.from_url(redis_url)
    await store.client.flushdb()
    bot = await start_bot(slack, gemini, store, **({"edit_interval_s": 1.0} | overrides))
    return slack, gemini, bot


async def _teardown(slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    await bot.stop()
    await gemini.stop(check=False)
    await slack.stop()


async def ack_latency(redis_url: str, events: int = 200) -> dict[str, float]:
    """HTTP response time of signed app_mention deliveries (the bot answers each one).

    The workspace edit budget is lifted here: 200 answers would otherwise queue their final
    edits behind Slack's ~50 chat.update a minute, which is pacing, not ack latency.
    """
    slack, gemini, bot = await _world(redis_url, updates_per_minute=100_000)
    try:
        latencies: list[float] = []
        for i in range(events):
            ts = slack.post_user_message("C1", user="U1", text=f"<@UBOT> q{i}")
            event = bot.sender.app_mention("C1", "U1", f"<@UBOT> q{i}", ts)
            started = time.perf_counter()
            status, *_ = await bot.send(event)
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200
        await bot.settle(timeout=120)
        return {"p50_ms": _pct(latencies, 0.5), "p99_ms": _pct(latencies, 0.99)}
    finally:
        await _teardown(slack, gemini, bot)


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
    """Run each benchmark `runs` times and print medians."""
    with RedisServer() as server:
        acks = [await ack_latency(server.url) for _ in range(runs)]
        streams = {mode: [await streaming_delays(server.url, mode) for _ in range(runs)]
                   for mode in ("edit", "native")}
    print(f"benchmark: thread conversations ({runs} runs, medians)")
    print(f"  event ack latency over 200 signed events: "
          f"p50 {statistics.median(a['p50_ms'] for a in acks):.1f} ms, "
          f"p99 {statistics.median(a['p99_ms'] for a in acks):.1f} ms")
    for mode, runs_of_mode in streams.items():
        def med(key: str, values: list[dict[str, float]] = runs_of_mode) -> float:
            return statistics.median(v[key] for v in values)

        print(f"  SLACK_STREAMING={mode}: model's first delta -> first visible Slack update "
              f"{med('first_visible_ms'):.0f} ms; last delta -> final write "
              f"{med('final_edit_ms'):.0f} ms; Slack write calls for a 10 s answer "
              f"{med('slack_writes'):.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
