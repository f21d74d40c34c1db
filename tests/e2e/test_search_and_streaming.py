"""Google Search answers with citations, and native Slack streaming with its fallbacks."""

from __future__ import annotations

import itertools

import pytest

from bot.rendering import render_answer
from fakes.gemini import Citation, FakeGemini, Reply, SearchCall
from fakes.slack import FakeSlack
from tests.e2e.conftest import BotFactory
from tests.e2e.test_controls import answer_with, click
from tests.e2e.test_threads import bot_replies, mention, reply
from tests.support.harness import RunningBot, wait_until

SB = "The Seahawks won Super Bowl LX. The game was played in Santa Clara."
SB_CITES = [
    Citation("https://example.com/sb60", "example.com", 0, 31),
    Citation("https://news.example/venue", "Venue news", 32, len(SB)),
    Citation("https://example.com/sb60", "example.com", 32, len(SB)),
]
STORY = " ".join(f"word{i}" for i in range(150))
SHORT_STORY = STORY[:300]
BAD_SLACK_ERRORS = {"msg_too_long", "msg_blocks_too_long", "invalid_blocks", "invalid_arguments"}


def search_reply(chunk_size: int = 8, delay_s: float = 0.05) -> Reply:
    return Reply(text=SB, search=SearchCall(["who won super bowl 2026"]), citations=SB_CITES,
                 chunk_size=chunk_size, delay_s=delay_s)


def no_slack_rejections(slack: FakeSlack) -> None:
    bad = [(c.method, c.error) for c in slack.calls if c.error in BAD_SLACK_ERRORS]
    assert not bad, bad


# -- Google Search and citations ------------------------------------------------------------------
async def test_search_answer_shows_markers_sources_and_search_status(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(search_reply(delay_s=0.05))
    ts = await mention(slack, bot, "who won the super bowl?")
    await bot.settle()

    [shown] = bot_replies(slack, "C1", ts)
    assert "Super Bowl LX.[1] The game was played in Santa Clara.[1][2]" in shown
    assert "Sources:" in shown
    assert "1. [example.com](https://example.com/sb60)" in shown
    assert "2. [Venue news](https://news.example/venue)" in shown
    assert shown.count("https://example.com/sb60") == 1, "sources are deduplicated"
    tools = gemini.creates[0]["tools"]
    assert {"type": "google_search"} in tools and {"type": "url_context"} in tools
    # While the model searched, the thread status said so (before any answer text).
    searching = [s for s in slack.statuses if "searching the web for who won super bowl 2026"
                 in s.status]
    assert searching and searching[0].status.startswith("is ")
    assert searching[0].at < slack.calls_to("chat.startStream")[0].at
    assert slack.visible_status("C1", ts) == "", "the status is gone once the answer is there"
    no_slack_rejections(slack)


async def test_search_status_goes_into_the_placeholder_in_edit_mode(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit")
    gemini.queue(search_reply(chunk_size=24, delay_s=0.25))
    ts = await mention(slack, bot, "who won?")
    await bot.settle()

    edits = [c.args["blocks"][0]["text"] for c in slack.calls_to("chat.update")]
    assert any("Searching the web for who won super bowl 2026" in e for e in edits)
    assert not slack.calls_to("chat.startStream")
    assert not slack.calls_to("assistant.threads.setStatus")
    [shown] = bot_replies(slack, "C1", ts)
    assert "Santa Clara.[1][2]" in shown and "[Venue news](https://news.example/venue)" in shown


async def test_refused_thread_status_falls_back_to_the_placeholder_text(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.fail_next("assistant.threads.setStatus", times=3, error="missing_scope")
    gemini.queue(search_reply(chunk_size=24, delay_s=0.25))
    ts = await mention(slack, bot, "who won?")
    await bot.settle()

    edits = [c.args["blocks"][0]["text"] for c in slack.calls_to("chat.update")]
    assert any("Searching the web for who won super bowl 2026" in e for e in edits)
    assert len(slack.calls_to("assistant.threads.setStatus")) == 1, "refusal is remembered"
    [shown] = bot_replies(slack, "C1", ts)
    assert "Santa Clara.[1][2]" in shown


async def test_google_search_setting_off_offers_no_search_tools(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(google_search=False)
    gemini.queue(Reply(text="From memory: the Seahawks.", search=SearchCall(["q"])))
    ts = await mention(slack, bot, "who won?")
    await bot.settle()
    tools = gemini.creates[0].get("tools") or []
    assert not [t for t in tools if t.get("type") in ("google_search", "url_context")]
    assert bot_replies(slack, "C1", ts) == ["From memory: the Seahawks."]


async def test_byte_offsets_and_whole_text_citations_do_not_crash(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    first = "Crème brûlée is French."
    text = f"{first} Bratwurst is German."
    end_first = len(first.encode("utf-8"))  # UTF-8 byte offsets, beyond the character count
    gemini.queue(Reply(text=text, search=SearchCall(["desserts"]), citations=[
        Citation("https://fr.example/creme", "French desserts", 0, end_first),
        Citation("https://de.example/wurst", None, end_first + 1, len(text.encode("utf-8"))),
        Citation("https://all.example/", "Everything", 0, len(text.encode("utf-8"))),
    ]))
    ts = await mention(slack, bot, "food?")
    await bot.settle()
    [shown] = bot_replies(slack, "C1", ts)
    assert "Crème brûlée is French.[1] Bratwurst is German.[2][3]" in shown
    assert "2. [de.example](https://de.example/wurst)\n3. [Everything](https://all.example/)" \
        in shown


@pytest.mark.parametrize("mode", ["auto", "edit"])
async def test_sources_of_a_near_limit_answer_move_to_a_follow_up_message(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory, mode: str) -> None:
    bot = await make_bot(slack_streaming=mode)
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 19 for i in range(20)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    text += "\n\nClosing: " + "x" * (10_850 - len(text) - 11)
    assert len(render_answer(text)) == 1, "the answer alone fits one message; with sources not"
    cites = [Citation(f"https://s{i}.example/page", f"Source number {i}", 0, len(text) - 5 * i)
             for i in range(8)]
    gemini.queue(Reply(text=text, citations=cites, chunk_size=1500, delay_s=0.05))
    ts = await mention(slack, bot, "write a lot, with sources")
    await bot.settle(timeout=30)

    shown = bot_replies(slack, "C1", ts)
    assert len(shown) == 2, "the answer plus a follow-up carrying the sources"
    assert "Closing: xxx" in shown[0] and "Sources:" in shown[1]
    for i in range(8):
        assert f"[Source number {i}](https://s{i}.example/page)" in shown[1]
    no_slack_rejections(slack)


async def test_thought_summaries_are_not_shown(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text="The answer.", thought="secret reasoning about the user"))
    ts = await mention(slack, bot, "think")
    await bot.settle()
    assert bot_replies(slack, "C1", ts) == ["The answer."]
    assert not any("secret" in s.status for s in slack.statuses)


# -- native streaming -----------------------------------------------------------------------------
async def test_native_stream_in_a_channel_passes_recipients_and_completes(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text=STORY, chunk_size=40, delay_s=0.05))
    ts = await mention(slack, bot, "tell me a story")
    await bot.settle()

    [start] = slack.calls_to("chat.startStream")
    assert start.args["thread_ts"] == ts
    assert (start.args["recipient_team_id"], start.args["recipient_user_id"]) == ("T1", "U1")
    appends = slack.calls_to("chat.appendStream")
    assert len(appends) >= 2 and all(c.ok for c in appends)
    gaps = [b.at - a.at for a, b in itertools.pairwise(appends)]
    assert min(gaps) >= 0.15, "appends are paced (edit_interval_s=0.2)"
    [answer] = [m for m in slack.visible_thread("C1", ts) if m.bot_id]
    assert [c.args["ts"] for c in slack.calls_to("chat.stopStream")] == [answer.ts]
    assert answer.visible == STORY and answer.streaming == "stopped"
    assert answer.buttons and "stop_answer" not in answer.buttons, "final controls only"
    assert not [c for c in slack.calls_to("chat.update") if c.args["ts"] == answer.ts], \
        "a plain answer is finished by chat.stopStream alone"
    no_slack_rejections(slack)


async def test_native_stream_in_a_dm(slack: FakeSlack, gemini: FakeGemini,
                                     bot: RunningBot) -> None:
    gemini.queue(Reply(text="Hello from a stream.", chunk_size=4, delay_s=0.05))
    ts = slack.post_user_message("D1", user="U1", text="hi")
    await bot.send(bot.sender.message("D1", "U1", "hi", ts, channel_type="im"))
    await bot.settle()
    assert slack.calls_to("chat.startStream")[0].args["channel"] == "D1"
    assert bot_replies(slack, "D1", ts) == ["Hello from a stream."]


async def test_unsupported_streaming_falls_back_to_edits_and_is_remembered(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.streaming_supported = False  # chat.startStream → unknown_method
    gemini.queue(Reply(text=SHORT_STORY, chunk_size=40, delay_s=0.05, search=SearchCall(["q"])))
    gemini.queue(Reply(text="Second answer."))
    ts = await mention(slack, bot, "story")
    await bot.settle()
    assert any("searching the web for q" in s.status for s in slack.statuses)
    assert slack.visible_status("C1", ts) == "", "no status is left behind"
    await reply(slack, bot, "and again", ts)
    await bot.settle()

    assert bot_replies(slack, "C1", ts) == [SHORT_STORY, "Second answer."]
    assert len(slack.calls_to("chat.startStream")) == 1, "the refusal is remembered"
    assert slack.calls_to("chat.update"), "the answer was edit-streamed"


async def test_refusal_in_one_channel_does_not_stop_native_streaming_elsewhere(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.fail_next("chat.startStream", error="channel_type_not_supported")
    gemini.queue(Reply(text="Edited answer.", chunk_size=4, delay_s=0.05))
    gemini.queue(Reply(text="Edited again."))
    gemini.queue(Reply(text="Streamed in the DM.", chunk_size=4, delay_s=0.05))
    ts = await mention(slack, bot, "one")
    await bot.settle()
    await reply(slack, bot, "two", ts)
    await bot.settle()
    dm = slack.post_user_message("D1", user="U1", text="three")
    await bot.send(bot.sender.message("D1", "U1", "three", dm, channel_type="im"))
    await bot.settle()

    assert bot_replies(slack, "C1", ts) == ["Edited answer.", "Edited again."]
    assert bot_replies(slack, "D1", dm) == ["Streamed in the DM."]
    assert [c.args["channel"] for c in slack.calls_to("chat.startStream")] == ["C1", "D1"]


async def test_expired_stream_is_finished_by_chat_update_on_the_same_message(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text=STORY, chunk_size=40, delay_s=0.05))
    ts = await mention(slack, bot, "long story")
    await wait_until(lambda: len(slack.calls_to("chat.appendStream")) >= 1)
    slack.advance(301)  # Slack closes streams after about five minutes
    await bot.settle()

    [start] = slack.calls_to("chat.startStream")
    [answer] = [m for m in slack.visible_thread("C1", ts) if m.bot_id]
    assert any(c.error == "message_not_in_streaming_state"
               for c in slack.calls_to("chat.appendStream"))
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == answer.ts]
    assert updates, "the expired stream's message is edited, not replaced"
    assert answer.visible == STORY
    assert start.ok


async def test_edit_setting_never_starts_a_stream(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit")
    gemini.queue(Reply(text=SHORT_STORY, chunk_size=40, delay_s=0.05))
    ts = await mention(slack, bot, "story")
    await bot.settle()
    assert bot_replies(slack, "C1", ts) == [SHORT_STORY]
    assert not slack.calls_to("chat.startStream") and not slack.calls_to("chat.appendStream")


async def test_native_setting_keeps_trying_and_still_answers(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="native")
    slack.streaming_supported = False
    gemini.queue(Reply(text="First."))
    gemini.queue(Reply(text="Second."))
    ts = await mention(slack, bot, "one")
    await bot.settle()
    await reply(slack, bot, "two", ts)
    await bot.settle()
    assert bot_replies(slack, "C1", ts) == ["First.", "Second."]
    assert len(slack.calls_to("chat.startStream")) == 2


async def test_long_native_answer_continues_in_follow_up_messages(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    paragraphs = [f"Part {i}: " + "the quick brown fox jumps " * 40 for i in range(20)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 20_000
    gemini.queue(Reply(text=text, chunk_size=1200, delay_s=0.05))
    ts = await mention(slack, bot, "write a lot")
    await bot.settle(timeout=30)
    shown = bot_replies(slack, "C1", ts)
    assert len(shown) >= 2
    joined = "\n".join(shown)
    assert all(f"Part {i}:" in joined for i in range(20))
    assert joined.count("quick brown fox") == text.count("quick brown fox")
    assert slack.calls_to("chat.startStream"), "it started as a native stream"
    no_slack_rejections(slack)


async def test_stop_works_on_a_native_stream(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text=STORY, chunk_size=6, delay_s=0.03))
    ts = await mention(slack, bot, "long story please")
    await wait_until(lambda: len(slack.calls_to("chat.appendStream")) >= 2)
    control = answer_with(slack, ts, "stop_answer")
    assert control is not None and "Writing" in control.visible, "Stop stays reachable"
    await click(bot, control, "stop_answer")
    await bot.settle()

    [answer] = [m for m in slack.visible_thread("C1", ts) if m.bot_id]
    assert answer.visible.startswith("word0 word1") and "Stopped by <@U1>" in answer.visible
    assert "word149" not in answer.visible
    assert answer_with(slack, ts, "stop_answer") is None
