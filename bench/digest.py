"""Benchmark: a scheduled digest of a channel with 2,000 recorded messages.

Records 2,000 messages through signed `message` events into the real bot (Bolt, Redis), then
runs one scheduled period the way the job runner does (`run_scheduled`) in a fresh process-like
`Services` with no background work, and prints: model input size, Redis round trips, Slack
calls, and time to post excluding the model call. `python -m bench.digest`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bot.digests.runs import run_scheduled
from bot.services import build_services
from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from storage import RedisStore
from storage.jobs import Job
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, start_bot
from tests.support.redis_server import RedisServer

MESSAGES = 2_000
WORDS = ("release deploy build flaky test rollback notes customer incident review budget "
         "design api latency cache redis slack gemini digest schedule friday monday").split()


def _text(i: int) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8 + i % 12)]
    return f"message {i}: " + " ".join(words)


async def _commands(store: RedisStore) -> int:
    info = await store.client.info("stats")
    return int(info["total_commands_processed"])


async def main() -> None:
    """Fill the record, run one period, print figures."""
    with RedisServer() as server:
        slack = FakeSlack(bot_token=BOT_TOKEN, team_id="T1", bot_user_id="UBOT", bot_id="BBOT")
        await slack.start()
        for u in range(1, 21):
            slack.add_user(f"U{u}", name=f"user{u}")
        slack.add_channel("C1", name="general")
        gemini = FakeGemini(api_key=GEMINI_KEY)
        await gemini.start()
        store = RedisStore.from_url(server.url)
        await store.client.flushdb()
        bot = await start_bot(slack, gemini, store)
        await bot.sender.send_command("/gemini", "digest daily 09:00 UTC",
                                      response_url=slack.new_response_url("C1", "U1"))
        while not slack.ephemerals("C1", "U1"):
            await asyncio.sleep(0.02)
        now = time.time()
        stamps: list[str] = []
        started = time.perf_counter()
        for i in range(MESSAGES):
            ts = f"{now + 1 + i * 0.04:.6f}"  # after recording began (the schedule)
            user = f"U{1 + i % 20}"
            slack.post_user_message("C1", user=user, text=_text(i), ts=ts)
            await bot.send(bot.sender.message("C1", user, _text(i), ts))
            stamps.append(ts)
        chlog = store.channel_log
        while len(await chlog.between("T1", "C1", 0, 2e9)) < MESSAGES:
            await asyncio.sleep(0.05)
        ingest_s = time.perf_counter() - started
        record_bytes = sum([await store.client.memory_usage(k) or 0 for k in (
            "gs:chlog:{T1:C1}:ts", "gs:chlog:{T1:C1}:msg")])
        schedule_job = await store.jobs.get("digest:T1:C1")
        assert schedule_job is not None
        await bot.stop()
        # Steady state: the schedule has existed for days, so the record covers the window
        # (the first period after scheduling also reads history for the time before).
        await store.client.set("gs:chlog:{T1:C1}:since", repr(now - 2 * 86_400))

        # One period, run as a job handler would, in Services with no background tasks.
        services = build_services(bot.services.settings, RedisStore.from_url(server.url))
        services.bot_user_id = "UBOT"
        model_s = 0.0
        create = services.gemini.aio.interactions.create

        async def timed_create(**body: Any) -> Any:
            nonlocal model_s
            t0 = time.perf_counter()
            try:
                return await create(**body)
            finally:
                model_s += time.perf_counter() - t0

        services.gemini.aio.interactions.create = timed_create  # type: ignore[method-assign]
        cited = [stamps[i] for i in range(0, MESSAGES, 100)]
        gemini.queue(Reply(text=json.dumps({
            "topics": [{"title": f"Topic {k}", "summary": "What was said", "sources": [ts]}
                       for k, ts in enumerate(cited[:10])],
            "decisions": [{"text": "Ship on Friday", "sources": cited[10:12]}],
            "action_items": [{"task": "Write notes", "owner": "U2", "due": "Thursday",
                              "sources": cited[12:15]}],
            "open_questions": [{"question": "Who owns rollback?", "sources": cited[15:20]}],
        })))
        due = now + 1 + MESSAGES * 0.04 + 60
        job = Job("digest:T1:C1", "digest", {**schedule_job.data, "due": due}, token=1)
        services.jobs.clock = lambda: due + 1
        calls_before = len(slack.calls)
        commands_before = await _commands(store)
        t0 = time.perf_counter()
        await run_scheduled(services, job)
        total_s = time.perf_counter() - t0
        round_trips = await _commands(store) - commands_before - 1  # minus the INFO itself
        slack_calls = [c.method for c in slack.calls[calls_before:]]
        body = gemini.creates[-1]
        said = json.dumps(body["input"], ensure_ascii=False)
        await services.aclose()
        await store.close()
        await gemini.stop(check=False)
        await slack.stop()

    print(f"benchmark: scheduled digest of a channel with {MESSAGES} recorded messages")
    print(f"  recording: {MESSAGES} signed message events in {ingest_s:.1f} s "
          f"({MESSAGES / ingest_s:.0f}/s); record size in Redis {record_bytes / 1024:.0f} KiB")
    print(f"  model input: {len(said):,} characters of transcript (~{len(said) // 4:,} tokens), "
          f"request body {len(json.dumps(body)):,} bytes")
    print(f"  Redis round trips for the run: {round_trips}")
    print(f"  Slack calls: {len(slack_calls)} ({', '.join(sorted(set(slack_calls)))}); "
          f"conversations.history: {slack_calls.count('conversations.history')}")
    print(f"  time to post: {total_s * 1000:.0f} ms total, model call {model_s * 1000:.0f} ms "
          f"(fake), excluding the model {(total_s - model_s) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
