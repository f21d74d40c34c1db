"""Exactly once and in order: Slack retries, double delivery, quick messages, several processes."""

from __future__ import annotations

import asyncio

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
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
