"""Stop, Regenerate and 👍/👎 on answers, end to end: clicks change the thread and the chain."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack, VisibleMessage
from storage import MemoryStore, RedisStore, ThreadKey, ThreadState
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import bot_replies, mention, reply
from tests.support.harness import RunningBot, input_text, wait_until

STORY = " ".join(f"word{i}" for i in range(150))  # ~1,100 chars: streams for a few seconds
SLOW = {"chunk_size": 6, "delay_s": 0.02}


@pytest.fixture
async def edit_bot(make_bot: BotFactory) -> RunningBot:
    """One bot process on Redis that streams by editing (the Stop button is in the message)."""
    return await make_bot(slack_streaming="edit")


def answer_with(slack: FakeSlack, thread_ts: str, action_id: str) -> VisibleMessage | None:
    """The bot's latest message in the thread showing the `action_id` control, if any."""
    shown = [m for m in slack.visible_thread("C1", thread_ts)
             if m.bot_id and action_id in m.buttons]
    return shown[-1] if shown else None


def control(msg: VisibleMessage, action_id: str) -> dict[str, Any]:
    """The block element behind a control a person sees on `msg`."""
    for block in msg.blocks or []:
        for el in block.get("elements") or []:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return el
    raise AssertionError(f"{action_id} not on the message")


async def click(bot: RunningBot, msg: VisibleMessage, action_id: str, *, user: str = "U1",
                positive: bool = True) -> None:
    """A person clicks a control on `msg` (the value is whatever the message carries)."""
    el = control(msg, action_id)
    if el["type"] == "feedback_buttons":
        side = el["positive_button" if positive else "negative_button"]
        value, kind = side["value"], "feedback_buttons"
    else:
        value, kind = el["value"], "button"
    payload = bot.sender.block_action(action_id, value, user_id=user, channel_id="C1",
                                      message_ts=msg.ts, thread_ts=msg.thread_ts,
                                      action_type=kind)
    delivery = await bot.sender.send_action(payload)
    assert delivery.status == 200, delivery
    assert delivery.elapsed_s < 3.0, "clicks must be acknowledged within Slack's 3 seconds"


async def thread_state(redis_url: str, ts: str) -> ThreadState:
    store = RedisStore.from_url(redis_url)
    try:
        state = await store.get_thread(ThreadKey("T1", "C1", ts))
    finally:
        await store.close()
    assert state is not None
    return state


async def streaming_answer(slack: FakeSlack, ts: str) -> VisibleMessage:
    """Wait until the answer shows some text and a Stop button; return it."""
    def ready() -> bool:
        msg = answer_with(slack, ts, "stop_answer")
        return msg is not None and msg.visible.startswith("word0 word1")

    await wait_until(ready, message="a streaming answer with Stop")
    msg = answer_with(slack, ts, "stop_answer")
    assert msg is not None
    return msg


# -- Stop ---------------------------------------------------------------------------------------


async def test_stop_keeps_partial_text_and_the_chain_stays_valid(
        slack: FakeSlack, gemini: FakeGemini, edit_bot: RunningBot, redis_flushed: str) -> None:
    bot = edit_bot
    ts = await mention(slack, bot, "first question")
    await bot.settle()
    first_id = next(iter(gemini.interactions))

    gemini.queue(Reply(text=STORY, **SLOW))
    await reply(slack, bot, "tell me a long story", ts)
    msg = await streaming_answer(slack, ts)
    clicked = time.monotonic()
    await click(bot, msg, "stop_answer")
    await wait_until(lambda: "Stopped by <@U1>" in bot_replies(slack, "C1", ts)[-1], timeout=3)
    assert time.monotonic() - clicked < 1.5, "a local Stop acts at once"
    await bot.settle()

    stopped = next(m for m in slack.visible_thread("C1", ts) if m.ts == msg.ts)
    partial = stopped.visible.split("\n")[0]
    assert STORY.startswith(partial) and 0 < len(partial) < len(STORY)
    assert stopped.buttons == ["regenerate_answer"], "no Stop button remains"
    stopped_id = list(gemini.interactions)[1]
    assert gemini.disconnects == 1, "the Gemini stream (HTTP request) was closed"
    assert gemini.interactions[stopped_id]["status"] == "cancelled"

    # The chain stays at the last completed interaction; the next turn chains to it.
    state = await thread_state(redis_flushed, ts)
    assert state.interaction_id == first_id and state.turns == 1
    await reply(slack, bot, "and now?", ts)
    await bot.settle()
    assert gemini.creates[-1]["previous_interaction_id"] == first_id
    assert gemini.interactions[first_id]["status"] == "completed"
    assert bot_replies(slack, "C1", ts)[-1] == "echo: <@U1>: and now?"


async def test_stop_pressed_in_another_process(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    answering = await make_bot(slack_streaming="edit")
    other = await make_bot(slack_streaming="edit")
    gemini.queue(Reply(text=STORY, **SLOW))
    ts = await mention(slack, answering, "long story please")
    msg = await streaming_answer(slack, ts)
    await click(other, msg, "stop_answer")  # Slack delivers the click to the other process
    await wait_until(lambda: "Stopped by <@U1>" in bot_replies(slack, "C1", ts)[-1], timeout=3)
    await answering.settle()
    assert not answering.services.stop_signals and not other.services.stop_signals
    assert gemini.disconnects == 1
    assert len(bot_replies(slack, "C1", ts)) == 1


async def test_only_the_asker_or_an_admin_can_stop(
        slack: FakeSlack, gemini: FakeGemini, edit_bot: RunningBot) -> None:
    slack.add_user("U3", name="carol", is_admin=True)
    gemini.queue(Reply(text=STORY, **SLOW))
    ts = await mention(slack, edit_bot, "long story please")
    msg = await streaming_answer(slack, ts)

    await click(edit_bot, msg, "stop_answer", user="U2")
    await wait_until(lambda: bool(slack.ephemerals("C1", "U2")))
    refusal = slack.ephemerals("C1", "U2")[0]
    assert "Only <@U1>" in refusal.visible and refusal.thread_ts == ts
    await asyncio.sleep(0.5)
    assert answer_with(slack, ts, "stop_answer") is not None, "the answer goes on"
    assert "Stopped" not in bot_replies(slack, "C1", ts)[-1]

    await click(edit_bot, msg, "stop_answer", user="U3")  # a workspace admin may
    await wait_until(lambda: "Stopped by <@U3>" in bot_replies(slack, "C1", ts)[-1], timeout=3)
    await edit_bot.settle()
    assert not slack.ephemerals("C1", "U3")


async def test_stop_before_the_turn_starts_skips_gemini(
        slack: FakeSlack, gemini: FakeGemini, edit_bot: RunningBot) -> None:
    gemini.queue(Reply(text="slow first answer", chunk_size=4, delay_s=0.3))
    ts = await mention(slack, edit_bot, "one")
    await wait_until(lambda: len(gemini.creates) == 1)
    second = await reply(slack, edit_bot, "two", ts, user="U2")
    # The queued turn's placeholder already offers Stop; its asker presses it.
    await wait_until(lambda: len(bot_replies(slack, "C1", ts)) == 2)
    placeholder = slack.visible_thread("C1", ts)[-1]
    assert placeholder.buttons == ["stop_answer"]
    await click(edit_bot, placeholder, "stop_answer", user="U2")
    await edit_bot.settle()

    assert len(gemini.creates) == 1, "the stopped turn never reached Gemini"
    first, stopped = bot_replies(slack, "C1", ts)
    assert first == "slow first answer"
    assert "Stopped before Gemini wrote anything" in stopped and "Stopped by <@U2>" in stopped
    assert answer_with(slack, ts, "stop_answer") is None
    assert any(m.ts == second for m in slack.visible_thread("C1", ts))


async def test_stop_works_on_the_in_process_store(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(store=MemoryStore(), slack_streaming="edit")
    gemini.queue(Reply(text=STORY, **SLOW))
    ts = await mention(slack, bot, "long story please")
    msg = await streaming_answer(slack, ts)
    await click(bot, msg, "stop_answer")
    await wait_until(lambda: "Stopped by <@U1>" in bot_replies(slack, "C1", ts)[-1], timeout=3)
    await bot.settle()
    assert gemini.disconnects == 1


# -- Regenerate ---------------------------------------------------------------------------------


async def test_regenerate_replaces_the_answer_and_the_chain_continues_from_it(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    ts = await mention(slack, bot, "q1")
    await bot.settle()
    gemini.queue(Reply(text="first take"))
    await reply(slack, bot, "q2", ts)
    await bot.settle()
    first_id, replaced_id = list(gemini.interactions)
    answer = answer_with(slack, ts, "regenerate_answer")
    assert answer is not None and answer.visible == "first take"
    assert answer.buttons == ["regenerate_answer", "answer_feedback"]

    gemini.queue(Reply(text="second take", chunk_size=3, delay_s=0.15))
    await click(bot, answer, "regenerate_answer")
    # While it regenerates, the same message offers Stop instead of Regenerate.
    def regenerating() -> bool:
        msg = answer_with(slack, ts, "stop_answer")
        return msg is not None and msg.ts == answer.ts

    await wait_until(regenerating, message="Stop on the answer being regenerated")
    await bot.settle()

    redone = next(m for m in slack.visible_thread("C1", ts) if m.ts == answer.ts)
    assert redone.visible == "second take", "the same message shows the new answer"
    assert bot_replies(slack, "C1", ts) == ["echo: <@U1>: q1", "second take"]
    assert redone.buttons == ["regenerate_answer", "answer_feedback"]
    assert gemini.creates[-1]["previous_interaction_id"] == first_id
    assert input_text(gemini.creates[-1]) == "<@U1>: q2"
    new_id = list(gemini.interactions)[-1]
    state = await thread_state(redis_flushed, ts)
    assert (state.interaction_id, state.previous_interaction_id) == (new_id, first_id)
    assert state.turns == 2 and state.last_answer_ts == answer.ts
    assert replaced_id != new_id

    await reply(slack, bot, "q3", ts)
    await bot.settle()
    assert gemini.creates[-1]["previous_interaction_id"] == new_id


async def test_regenerate_a_stopped_answer_runs_the_turn_again(
        slack: FakeSlack, gemini: FakeGemini, edit_bot: RunningBot, redis_flushed: str) -> None:
    gemini.queue(Reply(text=STORY, **SLOW))
    ts = await mention(slack, edit_bot, "long story please")
    msg = await streaming_answer(slack, ts)
    await click(edit_bot, msg, "stop_answer")
    await wait_until(lambda: answer_with(slack, ts, "regenerate_answer") is not None)
    await edit_bot.settle()

    stopped = answer_with(slack, ts, "regenerate_answer")
    assert stopped is not None
    gemini.queue(Reply(text="a short story"))
    await click(edit_bot, stopped, "regenerate_answer")
    await edit_bot.settle()
    assert bot_replies(slack, "C1", ts) == ["a short story"]
    assert "previous_interaction_id" not in gemini.creates[-1], "first turn: no chain before it"
    state = await thread_state(redis_flushed, ts)
    assert state.interaction_id == list(gemini.interactions)[-1] and state.turns == 1


async def test_only_the_latest_answer_can_be_regenerated(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "q1")
    await bot.settle()
    older = answer_with(slack, ts, "regenerate_answer")
    await reply(slack, bot, "q2", ts)
    await bot.settle()
    assert older is not None
    await click(bot, older, "regenerate_answer")
    await wait_until(lambda: bool(slack.ephemerals("C1", "U1")))
    await bot.settle()
    assert "Only the latest answer" in slack.ephemerals("C1", "U1")[0].visible
    assert len(gemini.creates) == 2
    assert bot_replies(slack, "C1", ts) == ["echo: <@U1>: q1", "echo: <@U1>: q2"]


async def test_someone_else_cannot_regenerate(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "q1")
    await bot.settle()
    answer = answer_with(slack, ts, "regenerate_answer")
    assert answer is not None
    await click(bot, answer, "regenerate_answer", user="U2")
    await wait_until(lambda: bool(slack.ephemerals("C1", "U2")))
    await bot.settle()
    assert "Only <@U1>" in slack.ephemerals("C1", "U2")[0].visible
    assert len(gemini.creates) == 1


async def test_double_click_regenerates_once(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    a, b = await make_bot(), await make_bot()
    ts = await mention(slack, a, "q1")
    await a.settle()
    answer = answer_with(slack, ts, "regenerate_answer")
    assert answer is not None
    gemini.queue(Reply(text="regenerated", chunk_size=3, delay_s=0.05))
    # Two clicks at once, delivered to two processes.
    await asyncio.gather(click(a, answer, "regenerate_answer"),
                         click(b, answer, "regenerate_answer"))
    await a.settle()
    await b.settle()
    assert len(gemini.creates) == 2, "one regeneration"
    assert bot_replies(slack, "C1", ts) == ["regenerated"]


# -- feedback -----------------------------------------------------------------------------------


async def test_feedback_is_stored_with_interaction_and_user(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    ts = await mention(slack, bot, "q1")
    await bot.settle()
    answer = answer_with(slack, ts, "answer_feedback")
    assert answer is not None
    interaction_id = next(iter(gemini.interactions))
    await click(bot, answer, "answer_feedback", user="U1", positive=True)
    await click(bot, answer, "answer_feedback", user="U2", positive=False)
    await wait_until(lambda: bool(slack.ephemerals("C1", "U2")))
    await bot.settle()

    store = RedisStore.from_url(redis_flushed)
    try:
        stored = await store.get_feedback(interaction_id)
    finally:
        await store.close()
    assert {user: r["value"] for user, r in stored.items()} == {
        "U1": "positive", "U2": "negative"}
    assert "Thanks for the feedback" in slack.ephemerals("C1", "U1")[0].visible
    logs = capsys.readouterr().out
    assert "feedback_recorded" in logs and "negative=1" in logs and "positive=1" in logs
    assert "q1" not in logs.split("feedback_recorded", 1)[1], "no message text in the log"


async def test_malformed_button_value_gets_a_clear_message(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "q1")
    await bot.settle()
    payload = bot.sender.block_action("regenerate_answer", "not json", user_id="U1",
                                      channel_id="C1", thread_ts=ts)
    delivery = await bot.sender.send_action(payload)
    assert delivery.status == 200
    await wait_until(lambda: bool(slack.ephemerals("C1", "U1")))
    assert "no longer works" in slack.ephemerals("C1", "U1")[0].visible
    assert len(gemini.creates) == 1


async def test_stop_during_a_native_stream(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="native")
    gemini.queue(Reply(text=STORY, **SLOW))
    ts = await mention(slack, bot, "long story please")
    await wait_until(lambda: any(m.streaming == "streaming"
                                 for m in slack.visible_thread("C1", ts)),
                     message="a native stream")
    control_msg = answer_with(slack, ts, "stop_answer")
    assert control_msg is not None, "Stop stays reachable while the answer streams natively"
    await click(bot, control_msg, "stop_answer")
    await wait_until(lambda: "Stopped by <@U1>" in bot_replies(slack, "C1", ts)[-1], timeout=3)
    await bot.settle()

    (answer,) = [m for m in slack.visible_thread("C1", ts) if m.bot_id]
    partial = answer.visible.split("\n")[0]
    assert STORY.startswith(partial) and 0 < len(partial) < len(STORY)
    assert answer.buttons == ["regenerate_answer"] and answer.streaming == "stopped"
    assert gemini.disconnects == 1


async def test_an_interim_render_of_fifty_blocks_still_has_room_for_stop(
        slack: FakeSlack, gemini: FakeGemini, edit_bot: RunningBot) -> None:
    # 25 paragraphs with a rule after each render as exactly 50 blocks: Stop would be the 51st.
    page = "para\n\n---\n\n" * 25
    gemini.queue(Reply(chunks=[page, "the end"], delay_s=2.5))
    ts = await mention(slack, edit_bot, "many sections")

    def streaming_with_stop() -> bool:
        shown = "".join(bot_replies(slack, "C1", ts))
        return answer_with(slack, ts, "stop_answer") is not None and shown.count("para") == 25

    await wait_until(streaming_with_stop, timeout=5, message="the 50-block page shows with Stop")
    await edit_bot.settle()
    rejected = [c for c in slack.calls_to("chat.update") + slack.calls_to("chat.postMessage")
                if not c.ok]
    assert rejected == [], "no interim write was refused for its block count"
    replies = bot_replies(slack, "C1", ts)
    assert replies[-1].endswith("the end") and "".join(replies).count("para") == 25
    assert answer_with(slack, ts, "stop_answer") is None, "Stop goes once the answer is done"
