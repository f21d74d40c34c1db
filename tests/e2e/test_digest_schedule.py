"""Scheduled digests firing through the real app's job runner, with an injected clock:
09:00 Europe/Berlin on both sides of a DST change, make-up within DIGEST_GRACE_S, skip after."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from storage import RedisStore
from tests.e2e.conftest import BotFactory
from tests.e2e.test_digests import command, digest_posts, fire, private_reply, say
from tests.support.harness import RunningBot, input_text, wait_until


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


async def test_daily_nine_berlin_fires_at_nine_local_across_spring_forward(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    bot.services.jobs.clock = lambda: utc(2026, 3, 28, 7, 30)  # 08:30 CET
    first_msg = say(slack, "U1", "friday notes", ts=f"{utc(2026, 3, 27, 12):.6f}")
    second_msg = say(slack, "U2", "saturday notes", ts=f"{utc(2026, 3, 28, 20):.6f}")
    await command(slack, bot, "digest daily 09:00 Europe/Berlin")
    assert "Sat 28 Mar, 09:00 CET" in await private_reply(slack)
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None and job.due_at == utc(2026, 3, 28, 8)  # 09:00 CET
    await fire(bot, slack, job.due_at + 1, posts=1)
    nxt = await bot.services.store.jobs.get("digest:T1:C1")
    assert nxt is not None and nxt.due_at == utc(2026, 3, 29, 7)  # 09:00 CEST
    await fire(bot, slack, nxt.due_at + 1, posts=2)
    berlin = ZoneInfo("Europe/Berlin")
    periods = [int(p.metadata["event_payload"]["period"]) for p in digest_posts(slack)]
    assert [datetime.fromtimestamp(p, berlin).strftime("%a %H:%M %Z") for p in periods] == [
        "Sat 09:00 CET", "Sun 09:00 CEST"]
    assert "Sat 28 Mar 2026" in str(digest_posts(slack)[0].blocks)
    assert "Sun 29 Mar 2026" in str(digest_posts(slack)[1].blocks)
    first_input, second_input = (input_text(c) for c in gemini.creates)
    assert first_msg in first_input and second_msg not in first_input
    assert second_msg in second_input and first_msg not in second_input


async def test_missed_run_is_skipped_after_grace_and_made_up_within_it(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot,
        capsys: pytest.CaptureFixture[str]) -> None:
    await command(slack, bot, "digest daily 09:00 UTC")
    await private_reply(slack)
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None
    due = job.due_at
    later = say(slack, "U1", "made-up period message", ts=f"{due + 3600:.6f}")
    await bot.send(bot.sender.message("C1", "U1", "made-up period message", later))
    # Every process was down for 3 hours past the run (grace is 2 h): skipped, logged.
    bot.services.jobs.clock = lambda: due + 3 * 3600
    bot.services.jobs.wake()
    await wait_until(lambda: "digest_missed_skipped" in capsys.readouterr().out,
                     message="skip log line")
    skipped = await bot.services.store.jobs.get("digest:T1:C1")
    assert skipped is not None and skipped.due_at == due + 86_400
    assert not gemini.creates and not digest_posts(slack)
    # Back 1 hour after the next run: made up once.
    await fire(bot, slack, due + 86_400 + 3600, posts=1)
    assert "made-up period message" in input_text(gemini.creates[0])
    again = await bot.services.store.jobs.get("digest:T1:C1")
    assert again is not None and again.due_at == due + 2 * 86_400
    assert len(digest_posts(slack)) == 1 and len(gemini.creates) == 1


async def test_quiet_scheduled_period_logs_and_posts_nothing(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot,
        capsys: pytest.CaptureFixture[str]) -> None:
    await command(slack, bot, "digest weekly sun 18:00 UTC")
    await private_reply(slack)
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None
    bot.services.jobs.clock = lambda: job.due_at + 1
    bot.services.jobs.wake()
    await wait_until(lambda: "digest_quiet_channel" in capsys.readouterr().out,
                     message="quiet log line")
    run = await bot.services.store.records.get("digest_run", f"T1:C1:{int(job.due_at)}")
    assert run is not None and run["status"] == "quiet"
    assert not gemini.creates and not digest_posts(slack)


async def test_messages_missed_while_no_process_ran_are_read_from_history(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory, redis_flushed: str) -> None:
    first = await make_bot()
    await command(slack, first, "digest daily 09:00 UTC")
    await private_reply(slack)
    seen = say(slack, "U1", "recorded while running")
    await first.send(first.sender.message("C1", "U1", "recorded while running", seen))
    store = first.services.store
    for _ in range(100):  # wait until the listener has recorded it
        if await store.channel_log.between("T1", "C1", 0, 2e9):
            break
        await asyncio.sleep(0.02)
    await first.stop()
    # Recording began days ago (the record covers the window), then every process was down
    # for ten minutes and a message sent meanwhile never reached the bot.
    check = RedisStore.from_url(redis_flushed)
    await check.client.set("gs:chlog:{T1:C1}:since", repr(time.time() - 3 * 86_400))
    down_since = time.time() - 600
    await check.channel_log.heartbeat(down_since)
    await check.close()
    missed = say(slack, "U2", "sent while the bot was down")
    second = await make_bot()
    job = None
    for _ in range(100):
        if await second.services.store.channel_log.gaps(0, 2e9):
            job = await second.services.store.jobs.get("digest:T1:C1")
            break
        await asyncio.sleep(0.02)
    assert job is not None, "the silence was recorded as a gap"
    await fire(second, slack, job.due_at + 1, posts=1)
    said = input_text(gemini.creates[0])
    assert "recorded while running" in said and "sent while the bot was down" in said
    [read] = slack.calls_to("conversations.history")  # only the gap was read
    assert float(read.args["oldest"]) == pytest.approx(down_since, abs=1e-5)
    assert float(read.args["oldest"]) < float(missed) < float(read.args["latest"])


async def test_with_recording_off_nothing_is_stored_and_digests_read_history(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(digest_recording=False)
    await command(slack, bot, "digest daily 09:00 UTC")
    await private_reply(slack)
    ts = say(slack, "U2", "not recorded anywhere")
    await bot.send(bot.sender.message("C1", "U2", "not recorded anywhere", ts))
    store = bot.services.store
    assert await store.channel_log.since("T1", "C1") is None
    job = await store.jobs.get("digest:T1:C1")
    assert job is not None
    await fire(bot, slack, job.due_at + 1, posts=1)
    assert await store.channel_log.between("T1", "C1", 0, 2e9) == []
    assert "not recorded anywhere" in input_text(gemini.creates[0])
    assert len(slack.calls_to("conversations.history")) == 1
