"""Exactly once and in order: Slack retries, double delivery, quick messages, several processes."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

import bot.threads.turns as turns
from bot.threads.messages import IncomingMessage
from bot.threads.turns import drain_thread
from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from storage import ClaimResult, RedisStore, ThreadKey
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import bot_replies, mention
from tests.support.harness import RunningBot, input_text, wait_until


async def test_redelivered_event_yields_one_answer(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text="only once", delay_s=0.05))
    ts = slack.post_user_message("C1", user="U1", text="<@UBOT> hi")
    event = bot.sender.app_mention("C1", "U1", "<@UBOT> hi", ts)
    await bot.send(event, event_id="Ev1")
    await bot.send(event, event_id="Ev1", retry_num=1, retry_reason="http_timeout")
    await bot.send(event, event_id="Ev1", retry_num=2, retry_reason="http_timeout")
    await bot.settle()
    assert len(gemini.creates) == 1
    assert bot_replies(slack, "C1", ts) == ["only once"]


async def test_concurrent_duplicate_deliveries_yield_one_answer(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    a, b = await make_bot(), await make_bot()
    ts = slack.post_user_message("C1", user="U1", text="<@UBOT> race")
    event = a.sender.app_mention("C1", "U1", "<@UBOT> race", ts)
    await asyncio.gather(a.send(event, event_id="Ev9"), b.send(event, event_id="Ev9", retry_num=1),
                         a.send(event, event_id="Ev9", retry_num=2))
    await asyncio.gather(a.settle(), b.settle())
    assert len(gemini.creates) == 1
    assert len(bot_replies(slack, "C1", ts)) == 1


async def test_mention_and_message_for_one_message_yield_one_answer(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    root = await mention(slack, bot, "start")
    await bot.settle()
    text = "<@UBOT> and also this"
    ts = slack.post_user_message("C1", user="U1", text=text, thread_ts=root)
    await asyncio.gather(
        bot.send(bot.sender.message("C1", "U1", text, ts, thread_ts=root), event_id="EvM"),
        bot.send(bot.sender.app_mention("C1", "U1", text, ts, thread_ts=root), event_id="EvA"),
    )
    await bot.settle()
    assert len(gemini.creates) == 2
    assert len(bot_replies(slack, "C1", root)) == 2


async def test_a_retry_that_is_the_only_copy_is_answered(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = slack.post_user_message("C1", user="U1", text="<@UBOT> lost first delivery")
    event = bot.sender.app_mention("C1", "U1", "<@UBOT> lost first delivery", ts)
    await bot.send(event, retry_num=1, retry_reason="http_timeout")
    await bot.settle()
    assert len(gemini.creates) == 1
    assert bot_replies(slack, "C1", ts) == ["echo: <@U1>: lost first delivery"]


async def _two_quick_messages(slack: FakeSlack, gemini: FakeGemini, first: RunningBot,
                              second: RunningBot) -> str:
    root = await mention(slack, first, "start")
    await first.settle()
    gemini.queue(Reply(text="answer one", chunk_size=3, delay_s=0.05, first_delay_s=0.4))
    gemini.queue(Reply(text="answer two"))
    ts1 = slack.post_user_message("C1", user="U1", text="question one", thread_ts=root)
    ts2 = slack.post_user_message("C1", user="U2", text="question two", thread_ts=root)
    e1 = first.sender.message("C1", "U1", "question one", ts1, thread_ts=root)
    e2 = second.sender.message("C1", "U2", "question two", ts2, thread_ts=root)
    await first.send(e1)
    await asyncio.sleep(0.05)
    await second.send(e2)
    await asyncio.gather(first.settle(), second.settle())
    return root


async def test_quick_messages_are_answered_in_order(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    root = await _two_quick_messages(slack, gemini, bot, bot)
    ids = list(gemini.interactions)
    assert [input_text(c) for c in gemini.creates[1:]] == [
        "<@U1>: question one", "<@U2>: question two"]
    assert gemini.creates[1]["previous_interaction_id"] == ids[0]
    assert gemini.creates[2]["previous_interaction_id"] == ids[1]
    assert bot_replies(slack, "C1", root)[1:] == ["answer one", "answer two"]


async def test_quick_messages_stay_in_order_across_two_processes(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    a, b = await make_bot(), await make_bot()
    root = await _two_quick_messages(slack, gemini, a, b)
    ids = list(gemini.interactions)
    assert input_text(gemini.creates[2]) == "<@U2>: question two"
    assert gemini.creates[2]["previous_interaction_id"] == ids[1]
    assert bot_replies(slack, "C1", root)[1:] == ["answer one", "answer two"]


async def test_turn_interrupted_by_a_restart_is_answered_by_the_next_process(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    first = await make_bot()
    gemini.queue(Reply(text="never finished", chunk_size=2, delay_s=0.1))
    ts = await mention(slack, first, "survive a restart")
    await wait_until(lambda: gemini.disconnects == 0 and len(gemini.creates) == 1)
    await asyncio.sleep(0.3)  # mid-stream
    await first.stop()  # the process goes away while answering; Slack won't redeliver

    second = await make_bot()
    await second.settle()
    await wait_until(lambda: bot_replies(slack, "C1", ts) == [
        "echo: <@U1>: survive a restart"], timeout=10)
    assert len(bot_replies(slack, "C1", ts)) == 1, "the same placeholder is reused"


@pytest.mark.parametrize("streaming", ["edit", "native"])
async def test_order_holds_when_the_first_placeholder_posts_slowly(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory, streaming: str) -> None:
    # Edit streaming writes each answer into its placeholder: they must appear in turn order.
    bot = await make_bot(slack_streaming=streaming)
    root = await mention(slack, bot, "start")
    await bot.settle()
    slack.delay_next("chat.postMessage", 0.6)  # message one's placeholder is slow to appear
    ts1 = slack.post_user_message("C1", user="U1", text="question one", thread_ts=root)
    ts2 = slack.post_user_message("C1", user="U2", text="question two", thread_ts=root)
    await bot.send(bot.sender.message("C1", "U1", "question one", ts1, thread_ts=root))
    await asyncio.sleep(0.05)
    await bot.send(bot.sender.message("C1", "U2", "question two", ts2, thread_ts=root))
    await bot.settle()
    ids = list(gemini.interactions)
    assert [input_text(c) for c in gemini.creates[1:]] == [
        "<@U1>: question one", "<@U2>: question two"]
    assert gemini.creates[2]["previous_interaction_id"] == ids[1]
    assert bot_replies(slack, "C1", root)[1:] == [
        "echo: <@U1>: question one", "echo: <@U2>: question two"], "answers show in order"


async def test_a_process_that_loses_its_lease_stops_answering(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory, redis_flushed: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "THREAD_LEASE_S", 0.6)  # renewed every 0.2 s
    a = await make_bot()
    gemini.queue(Reply(text="slow answer " * 30, chunk_size=12, delay_s=0.1))
    ts = await mention(slack, a, "long one")
    await wait_until(lambda: len(gemini.creates) == 1)
    await asyncio.sleep(0.3)
    # Another process takes the thread over (as if A's lease had expired during a Redis blip).
    client = aioredis.from_url(redis_flushed)
    await client.set(f"gs:lease:thread:{{T1:C1:{ts}}}", "someone-else", px=60_000)
    await client.aclose()
    # A notices at its next renewal and cancels its answer (its handler keeps waiting for
    # the new lease holder, which would answer the turn).
    await wait_until(lambda: gemini.disconnects == 1, message="the answer in flight cancelled")
    store = RedisStore.from_url(redis_flushed)
    assert await store.has_turn(ThreadKey("T1", "C1", ts), ts), "left for the lease holder"
    await store.close()


async def test_already_answered_turn_is_not_answered_again(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    ts = await mention(slack, bot, "once")
    await bot.settle()
    store = RedisStore.from_url(redis_flushed)
    key = ThreadKey("T1", "C1", ts)
    msg = IncomingMessage(team_id="T1", channel_id="C1", user_id="U1", text="<@UBOT> once",
                          ts=ts, mentioned=True)
    # A second copy of the turn, as left behind by a process stopped after saving its answer.
    await store.enqueue_turn(key, ts, {"message": msg.to_payload(), "claim_owner": "gone"})
    await drain_thread(bot.services, key)
    await store.close()
    assert len(gemini.creates) == 1
    assert len(bot_replies(slack, "C1", ts)) == 1


async def test_a_message_waiting_behind_a_long_answer_keeps_its_claim(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Renewed every 0.5 s while waiting: short enough to expire twice during the wait below,
    # long enough that a busy machine stalling the event loop for a moment can't lapse it.
    monkeypatch.setattr(turns, "CLAIM_LEASE_S", 1.5)
    root = await mention(slack, bot, "start")
    await bot.settle()
    gemini.queue(Reply(text="slow answer " * 50, chunk_size=12, delay_s=0.1))  # ~5 s
    ts1 = slack.post_user_message("C1", user="U1", text="first", thread_ts=root)
    ts2 = slack.post_user_message("C1", user="U2", text="second", thread_ts=root)
    await bot.send(bot.sender.message("C1", "U1", "first", ts1, thread_ts=root))
    await bot.send(bot.sender.message("C1", "U2", "second", ts2, thread_ts=root))
    await asyncio.sleep(3.2)  # two leases' worth: message two is still waiting
    store = RedisStore.from_url(redis_flushed)
    taken = await store.claim(f"msg:T1:C1:{ts2}", "a-slack-retry", 5)
    await store.close()
    assert taken is ClaimResult.IN_PROGRESS, "the waiting handler still holds its claim"
    await bot.settle()
    assert len(bot_replies(slack, "C1", root)) == 3


async def test_one_process_streams_more_answers_at_once_than_the_sdks_default_pool(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    # google-genai's client pools 100 connections; a streamed answer holds one throughout.
    # Answer 120 threads at once (one per channel, within Slack's per-channel posting limit):
    # every one must reach Gemini before the first finishes.
    bot = await make_bot(gemini_timeout_s=30.0)
    n = 120
    for i in range(n):
        gemini.queue(Reply(chunks=[f"answer {i}"], first_delay_s=10.0))
    channels = [f"CP{i:03d}" for i in range(n)]
    for channel in channels:
        slack.add_channel(channel, name=channel.lower())
    threads = await asyncio.gather(*(mention(slack, bot, "q", channel=c) for c in channels))
    await wait_until(lambda: len(gemini.creates) == n, timeout=8,
                     message="all 120 answers streaming at once")
    await bot.settle(timeout=40)
    assert len(gemini.creates) == n
    assert all(bot_replies(slack, channel, ts)[-1].startswith("answer ")
               for channel, ts in zip(channels, threads, strict=True))


async def test_a_sweep_in_the_answering_process_leaves_its_thread_alone(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    # The lease lapsed while Redis was unreachable (its owner is this process): the recovery
    # sweep of the same process must not answer the turn a second time.
    gemini.queue(Reply(text="slow answer " * 20, chunk_size=12, delay_s=0.1))  # ~2 s
    ts = await mention(slack, bot, "long one")
    await wait_until(lambda: len(gemini.creates) == 1)
    client = aioredis.from_url(redis_flushed)
    await client.delete(f"gs:lease:thread:{{T1:C1:{ts}}}")
    await client.aclose()
    await drain_thread(bot.services, ThreadKey("T1", "C1", ts))  # what the sweep runs
    await bot.settle()
    assert len(gemini.creates) == 1, "answered once"
    assert [r.strip() for r in bot_replies(slack, "C1", ts)] == [("slow answer " * 20).strip()]
