"""Failures a user must see handled: Gemini errors and timeouts, Slack 429s, long answers."""

from __future__ import annotations

import pytest

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from storage import RedisStore, ThreadKey
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import bot_replies, mention, reply
from tests.support.harness import RunningBot, input_text


async def test_gemini_error_becomes_a_readable_message_and_keeps_the_chain(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    ts = await mention(slack, bot, "first")
    await bot.settle()
    first_id = next(iter(gemini.interactions))

    gemini.fail_next(times=10, status=500, code="internal", message="boom")
    await reply(slack, bot, "second", ts)
    await bot.settle()
    shown = bot_replies(slack, "C1", ts)[-1]
    assert "Gemini had an internal error" in shown
    assert "boom" not in shown and "Traceback" not in shown
    store = RedisStore.from_url(redis_flushed)
    state = await store.get_thread(ThreadKey("T1", "C1", ts))
    await store.close()
    assert state is not None and state.interaction_id == first_id and state.turns == 1

    gemini.failures.clear()
    await reply(slack, bot, "third", ts)
    await bot.settle()
    assert gemini.creates[-1]["previous_interaction_id"] == first_id
    assert bot_replies(slack, "C1", ts)[-1] == "echo: <@U1>: third"


async def test_retries_are_bounded(slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.fail_next(times=50, status=503, code="unavailable", message="overloaded")
    ts = await mention(slack, bot, "hello")
    await bot.settle(timeout=30)
    # gemini_retry_attempts=2 HTTP attempts per stream attempt, 2 stream attempts at most.
    assert 1 < len(gemini.creates) <= 4
    assert "Please try again" in bot_replies(slack, "C1", ts)[-1]


async def test_mid_stream_error_keeps_partial_text_and_explains(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text="The first part of a long answer and then", chunk_size=10,
                       error_event={"code": "internal", "message": "exploded"},
                       error_after_chunks=2))
    ts = await mention(slack, bot, "go")
    await bot.settle()
    shown = bot_replies(slack, "C1", ts)[-1]
    assert shown.startswith("The first part of a")
    assert "stopped with an error" in shown


async def test_gemini_timeout_becomes_a_message(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(gemini_timeout_s=0.5, gemini_retry_attempts=1)
    gemini.queue(Reply(text="too late", hang_s=3))
    gemini.queue(Reply(text="too late", hang_s=3))
    ts = await mention(slack, bot, "slow?")
    await bot.settle(timeout=20)
    assert "took too long" in bot_replies(slack, "C1", ts)[-1]


async def test_slack_429_on_edits_still_delivers_the_final_text(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit")  # this test is about chat.update pacing
    text = "word " * 200
    gemini.queue(Reply(text=text, chunk_size=20, delay_s=0.02))
    slack.fail_next("chat.update", times=3, status=429, retry_after=1)
    ts = await mention(slack, bot, "long please")
    await bot.settle(timeout=30)
    assert bot_replies(slack, "C1", ts) == [text.strip()]
    assert any(c.status == 429 for c in slack.calls_to("chat.update"))


async def test_long_answer_continues_in_follow_up_messages(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    paragraphs = [f"Paragraph {i}: " + ("lorem ipsum dolor sit amet " * 40).strip()
                  for i in range(30)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 30_000
    gemini.queue(Reply(text=text, chunk_size=2000))
    ts = await mention(slack, bot, "write a lot")
    await bot.settle(timeout=30)
    shown = bot_replies(slack, "C1", ts)
    assert len(shown) >= 3
    joined = "\n".join(shown)
    positions = [joined.find(f"Paragraph {i}:") for i in range(30)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert joined.count("lorem ipsum") == text.count("lorem ipsum")


async def test_expired_chain_is_rebuilt_from_the_thread(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "my name is Ada")
    await bot.settle()
    first_id = next(iter(gemini.interactions))
    await bot.services.gemini.aio.interactions.delete(first_id)  # Gemini forgot the chain

    await reply(slack, bot, "what is my name?", ts)
    await bot.settle()
    retry = gemini.creates[-1]
    assert "previous_interaction_id" not in retry
    assert "my name is Ada" in input_text(retry)
    assert input_text(retry).endswith("<@U1>: what is my name?")
    assert bot_replies(slack, "C1", ts)[-1].startswith("echo: Earlier messages")


async def test_concurrent_answers_share_the_workspace_edit_budget(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit", updates_per_minute=60, edit_interval_s=0.2)
    text = " ".join(f"w{i}" for i in range(60))
    for _ in range(3):
        gemini.queue(Reply(text=text, chunk_size=6, delay_s=0.06))
    threads = [await mention(slack, bot, f"question {i}") for i in range(3)]
    await bot.settle(timeout=60)
    for ts in threads:
        assert bot_replies(slack, "C1", ts) == [text], "every answer still ends complete"
    updates = slack.calls_to("chat.update")
    assert all(c.status == 200 for c in updates)
    span = updates[-1].at - updates[0].at
    # Burst of 5, then 1 a second for the whole workspace: never more, however many answers.
    assert len(updates) <= 5 + span * 1.0 + 1
    # Unpaced, three answers edited every 0.2 s for ~0.6 s each would need far more.
    assert len(updates) >= 3


async def test_two_processes_share_one_workspace_edit_budget(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bots = [await make_bot(slack_streaming="edit", updates_per_minute=60, edit_interval_s=0.2)
            for _ in range(2)]
    text = " ".join(f"w{i}" for i in range(80))
    for _ in range(4):
        gemini.queue(Reply(text=text, chunk_size=6, delay_s=0.05))
    threads = [await mention(slack, bots[i % 2], f"question {i}") for i in range(4)]
    for bot in bots:
        await bot.settle(timeout=60)
    for ts in threads:
        assert bot_replies(slack, "C1", ts) == [text], "every answer still ends complete"
    updates = slack.calls_to("chat.update")
    span = updates[-1].at - updates[0].at
    # One bucket in Redis for both processes: burst of 5, then 1 a second in total.
    assert len(updates) <= 5 + span * 1.0 + 1


async def test_thread_context_refused_by_slack_still_answers(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    parent = slack.post_user_message("C1", user="U2", text="a human thread")
    slack.fail_next("conversations.replies", error="missing_scope")
    await mention(slack, bot, "join in", thread_ts=parent)
    await bot.settle()
    assert bot_replies(slack, "C1", parent) == ["echo: <@U1>: join in"]


async def test_first_answer_failing_means_the_next_turn_still_gets_the_thread(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    parent = slack.post_user_message("C1", user="U2", text="Budget is 40k for Q3.")
    gemini.fail_next(times=1, status=400, code="invalid_argument", message="nope")
    await mention(slack, bot, "summarise", thread_ts=parent)
    await bot.settle()
    assert "could not process" in bot_replies(slack, "C1", parent)[-1]
    await reply(slack, bot, "try again please", parent)
    await bot.settle()
    assert "Budget is 40k for Q3." in input_text(gemini.creates[-1])
    assert "previous_interaction_id" not in gemini.creates[-1]


async def test_unexpected_failure_replaces_the_placeholder_with_a_message(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.threads.conversation as conversation

    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(conversation, "turn_input", broken)
    ts = await mention(slack, bot, "hello")
    await bot.settle()
    shown = bot_replies(slack, "C1", ts)
    assert len(shown) == 1 and "Something went wrong on my side" in shown[0]
    assert "Thinking" not in shown[0]


@pytest.mark.parametrize("status", [500, 0], ids=["5xx_after_posting", "reset_after_posting"])
async def test_a_post_whose_answer_is_lost_is_not_posted_twice(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, status: int) -> None:
    # Slack posts the placeholder, then the answer to the bot is lost (5xx / connection reset).
    slack.fail_next("chat.postMessage", status=status, after_processing=True)
    ts = await mention(slack, bot, "only once please")
    await bot.settle()
    assert bot_replies(slack, "C1", ts) == ["echo: <@U1>: only once please"], \
        "one answer, no orphaned 'Thinking…' placeholder"
    assert slack.calls_to("conversations.replies"), "it checked what had been posted"


async def test_a_post_that_never_happened_is_posted_after_checking(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.fail_next("chat.postMessage", status=503)  # rejected before anything was posted
    ts = await mention(slack, bot, "still answered")
    await bot.settle()
    assert bot_replies(slack, "C1", ts) == ["echo: <@U1>: still answered"]
