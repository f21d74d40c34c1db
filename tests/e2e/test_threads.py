"""Thread conversations end to end: mention → streamed answer → follow-ups chained in Redis."""

from __future__ import annotations

import itertools
import time

import aiohttp
import redis.asyncio as aioredis

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from storage import RedisStore, ThreadKey
from tests.e2e.conftest import BotFactory
from tests.support.harness import RunningBot, input_text, wait_until

ANSWER = "Paris is the capital of France. It has been since the tenth century, give or take."


async def mention(slack: FakeSlack, bot: RunningBot, text: str, *, channel: str = "C1",
                  user: str = "U1", thread_ts: str | None = None) -> str:
    """A person mentions the bot: the message appears in Slack and the event is delivered."""
    ts = slack.post_user_message(channel, user=user, text=f"<@UBOT> {text}", thread_ts=thread_ts)
    event = bot.sender.app_mention(channel, user, f"<@UBOT> {text}", ts, thread_ts=thread_ts)
    status, *_ = await bot.send(event)
    assert status == 200
    return ts


async def reply(slack: FakeSlack, bot: RunningBot, text: str, thread_ts: str, *,
                channel: str = "C1", user: str = "U1", channel_type: str = "channel") -> str:
    """A person writes in a thread without mentioning the bot."""
    ts = slack.post_user_message(channel, user=user, text=text, thread_ts=thread_ts)
    event = bot.sender.message(channel, user, text, ts, thread_ts=thread_ts,
                               channel_type=channel_type)
    status, *_ = await bot.send(event)
    assert status == 200
    return ts


def bot_replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[str]:
    """What a person sees of the bot's messages in the thread, oldest first."""
    return [m.visible for m in slack.visible_thread(channel, thread_ts) if m.bot_id]


async def test_mention_streams_answer_into_thread(slack: FakeSlack, gemini: FakeGemini,
                                                  make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit")  # this test is about edit pacing
    gemini.queue(Reply(text=ANSWER, chunk_size=8, delay_s=0.08, first_delay_s=0.3))
    sent_at = time.monotonic()
    ts = await mention(slack, bot, "What is the capital of France?")
    await bot.settle()

    assert bot_replies(slack, "C1", ts) == [ANSWER]
    posts = slack.calls_to("chat.postMessage")
    assert posts[0].args["thread_ts"] == ts
    assert posts[0].at - sent_at < 1.0, "placeholder must appear within a second"
    answer_ts = next(m.ts for m in slack.visible_thread("C1", ts) if m.bot_id)
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == answer_ts]
    assert len(updates) >= 2, "the answer should grow through several edits"
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)]
    assert min(gaps[:-1] or [1.0]) >= 0.15, "interim edits are paced (edit_interval_s=0.2)"
    # The model got the question, without the bot's own mention token.
    assert input_text(gemini.creates[0]) == "<@U1>: What is the capital of France?"


async def test_follow_up_continues_the_chain_without_mention(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    ts = await mention(slack, bot, "Remember the number 7.")
    await bot.settle()
    await reply(slack, bot, "What number did I say?", ts)
    await bot.settle()

    first, second = gemini.creates
    assert "previous_interaction_id" not in first
    first_id = next(iter(gemini.interactions))
    assert second["previous_interaction_id"] == first_id
    assert input_text(second) == "<@U1>: What number did I say?"
    assert len(bot_replies(slack, "C1", ts)) == 2
    # Storage holds the chain head and the turn count, under the thread's key.
    store = RedisStore.from_url(redis_flushed)
    state = await store.get_thread(ThreadKey("T1", "C1", ts))
    await store.close()
    assert state is not None
    assert state.turns == 2
    assert state.interaction_id == list(gemini.interactions)[1]
    assert state.previous_interaction_id == first_id


async def test_a_turn_reads_no_slack_history_however_long_the_thread(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "start")
    await bot.settle()
    for i in range(6):
        await reply(slack, bot, f"message {i}", ts)
        await bot.settle()
    assert not slack.calls_to("conversations.replies")
    assert not slack.calls_to("conversations.history")
    sizes = {len(input_text(body)) for body in gemini.creates[1:]}
    assert max(sizes) - min(sizes) <= 2, "each turn sends only the new message"
    ids = list(gemini.interactions)
    for prev, body in zip(ids, gemini.creates[1:], strict=False):
        assert body["previous_interaction_id"] == prev


async def test_first_mention_in_a_human_thread_sends_earlier_messages_once(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    parent = slack.post_user_message("C1", user="U1", text="Should we ship on Friday?")
    slack.post_user_message("C1", user="U2", text="Only if QA signs off.", thread_ts=parent)
    await mention(slack, bot, "what do you think?", user="U1", thread_ts=parent)
    await bot.settle()
    await reply(slack, bot, "and Monday?", parent)
    await bot.settle()

    assert len(slack.calls_to("conversations.replies")) == 1
    first_input = input_text(gemini.creates[0])
    assert "Should we ship on Friday?" in first_input
    assert "<@U2>: Only if QA signs off." in first_input
    assert first_input.endswith("<@U1>: what do you think?")
    assert input_text(gemini.creates[1]) == "<@U1>: and Monday?"
    assert len(bot_replies(slack, "C1", parent)) == 2


async def test_dm_is_answered_in_its_thread_and_replies_continue(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = slack.post_user_message("D1", user="U1", text="hello there")
    await bot.send(bot.sender.message("D1", "U1", "hello there", ts, channel_type="im"))
    await bot.settle()
    assert bot_replies(slack, "D1", ts) == ["echo: <@U1>: hello there"]
    await reply(slack, bot, "again", ts, channel="D1", channel_type="im")
    await bot.settle()
    assert gemini.creates[1]["previous_interaction_id"] == next(iter(gemini.interactions))
    assert len(bot_replies(slack, "D1", ts)) == 2


async def test_ignores_bots_subtypes_and_threads_it_is_not_in(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    parent = slack.post_user_message("C1", user="U1", text="people talking")
    ts = slack.post_user_message("C1", user="U2", text="just us", thread_ts=parent)
    await bot.send(bot.sender.message("C1", "U2", "just us", ts, thread_ts=parent))
    await bot.send(bot.sender.message("C1", "U2", "top level chatter",
                                      slack.post_user_message("C1", user="U2", text="x")))
    await bot.send(bot.sender.message("C1", "U9", "beep", "1700000001.000100", bot_id="BOTHER"))
    await bot.send(bot.sender.message("C1", "U1", "edited", "1700000002.000100",
                                      subtype="message_changed"))
    await bot.send(bot.sender.message("C1", "U1", "joined", "1700000003.000100",
                                      subtype="channel_join"))
    await bot.settle()
    assert gemini.creates == []
    assert slack.calls_to("chat.postMessage") == []


async def test_own_messages_echoed_back_are_ignored(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.echo_events_to(bot.url, bot.sender.signing_secret)
    ts = await mention(slack, bot, "hi")
    await bot.settle()
    await wait_until(lambda: len(slack.calls_to("chat.postMessage")) >= 1)
    await bot.settle()
    assert len(gemini.creates) == 1
    assert len(bot_replies(slack, "C1", ts)) == 1


async def test_restart_keeps_the_thread_chain(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    first = await make_bot()
    ts = await mention(slack, first, "hello")
    await first.settle()
    await first.stop()

    second = await make_bot()
    await reply(slack, second, "still there?", ts)
    await second.settle()
    assert gemini.creates[1]["previous_interaction_id"] == next(iter(gemini.interactions))


async def test_bad_signature_and_stale_timestamp_are_rejected(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = slack.post_user_message("C1", user="U1", text="<@UBOT> hi")
    event = bot.sender.app_mention("C1", "U1", "<@UBOT> hi", ts)
    status, *_ = await bot.send(event, signing_secret="wrong-secret")
    assert status == 401
    status, *_ = await bot.send(event, timestamp=int(time.time()) - 600)
    assert status == 401
    await bot.settle()
    assert gemini.creates == []
    assert slack.calls_to("chat.postMessage") == []


async def test_in_process_store_answers_and_chains(
        slack: FakeSlack, gemini: FakeGemini, memory_bot: RunningBot) -> None:
    ts = await mention(slack, memory_bot, "one")
    await memory_bot.settle()
    await reply(slack, memory_bot, "two", ts)
    await memory_bot.settle()
    assert gemini.creates[1]["previous_interaction_id"] == next(iter(gemini.interactions))


async def test_thread_state_has_a_ttl_in_redis(
        slack: FakeSlack, bot: RunningBot, redis_flushed: str) -> None:
    ts = await mention(slack, bot, "hi")
    await bot.settle()
    client = aioredis.from_url(redis_flushed)
    keys = [k async for k in client.scan_iter(match=f"*thread*{ts}*")]
    assert keys, "thread state is stored in Redis"
    ttls = [await client.ttl(k) for k in keys]
    await client.aclose()
    assert all(25 * 86_400 < t <= 30 * 86_400 for t in ttls)


async def test_health_endpoint_reports_ready(bot: RunningBot) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(bot.url.replace("/slack/events", "/healthz")) as resp:
            assert resp.status == 200
            assert (await resp.json()) == {"ok": True, "status": "ok", "store": "redis",
                                           "store_reachable": True, "spooled_messages": 0}
        async with http.get(bot.url.replace("/slack/events", "/readyz")) as resp:
            assert resp.status == 200
            assert (await resp.json())["slack_identity"] is True
    bot.services.ready = False
    async with aiohttp.ClientSession() as http:
        async with http.get(bot.url.replace("/slack/events", "/healthz")) as resp:
            assert resp.status == 503
        async with http.get(bot.url.replace("/slack/events", "/readyz")) as resp:
            assert resp.status == 503
