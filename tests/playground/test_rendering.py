"""Block Kit and Slack text as the playground page draws them: faithful, and safe."""

from __future__ import annotations

import html
import json
import re

from bot.controls.buttons import AnswerRef, answer_blocks, note_blocks, stop_blocks
from fakes.slack import Message
from fakes.slack.models import StreamState
from playground.blockkit import blocks
from playground.message_html import body_html
from playground.text_html import markdown, mrkdwn
from storage import ThreadKey

NAMES = {"U1": "alice", "UBOT": "gemini", "C1": "general"}.get


def names(entity_id: str) -> str:
    return NAMES(entity_id) or entity_id


def test_mrkdwn_styles_links_and_mentions() -> None:
    out = mrkdwn("*bold* _it_ ~gone~ `x<y` <@U1> <#C1> <https://a.example/?q=1&amp;r=2|site> "
                 "<!here>", names)
    assert "<b>bold</b>" in out and "<i>it</i>" in out and "<s>gone</s>" in out
    assert "<code>x&lt;y</code>" in out
    assert '<span class="mention">@alice</span>' in out
    assert '<span class="mention">#general</span>' in out
    assert '<a href="https://a.example/?q=1&amp;r=2" target="_blank"' in out and ">site</a>" in out
    assert "@here" in out


def test_mrkdwn_keeps_code_blocks_and_quotes_and_escapes_markup() -> None:
    out = mrkdwn("```\n*not bold* <b>\n```\n&gt; quoted\n&lt;script&gt;", names)
    assert "<pre>*not bold* &lt;b&gt;\n</pre>" in out
    assert '<span class="quote">quoted</span>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_only_web_and_mail_links_become_links() -> None:
    out = mrkdwn("<javascript:alert(1)|click me>", names)
    assert "<a " not in out and "click me" in out
    md = markdown("[x](javascript:alert(1)) [y](https://ok.example)", names)
    assert 'href="javascript' not in md and 'href="https://ok.example"' in md


def test_markdown_renders_tables_lists_and_mentions_without_raw_html() -> None:
    out = markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n<i>raw</i> <@U1>", names)
    assert "<table>" in out and "<th>a</th>" in out and "<td>2</td>" in out
    assert "<li>one</li>" in out
    assert "<i>raw</i>" not in out and "&lt;i&gt;raw&lt;/i&gt;" in out
    assert '<span class="mention">@alice</span>' in out


def test_the_bots_own_control_blocks_become_working_buttons() -> None:
    ref = AnswerRef(ThreadKey("T1", "C1", "1700000000.000100"), "1700000000.000100", 0, "U1")
    out = blocks(stop_blocks(ref) + answer_blocks(ref, "v1_9") + note_blocks("Stopped by <@U1>"),
                 names)
    actions = [json.loads(html.unescape(a)) for a in re.findall(r'data-action="([^"]*)"', out)]
    assert [a["action_id"] for a in actions] == [
        "stop_answer", "regenerate_answer", "answer_feedback", "answer_feedback"]
    assert AnswerRef.from_value(actions[0]["value"]) == ref, "the value survives the page"
    assert actions[2]["type"] == "feedback_buttons"
    assert [json.loads(a["value"])["f"] for a in actions[2:]] == ["positive", "negative"]
    assert 'class="btn btn-danger"' in out and 'aria-label="Good answer"' in out
    assert "Stopped by <span class=\"mention\">@alice</span>" in out


def test_every_block_type_the_bot_uses_is_drawn() -> None:
    out = blocks([
        {"type": "header", "text": {"type": "plain_text", "text": "Title <1>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"},
         "fields": [{"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "b"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://x.example|x>"}]},
        {"type": "image", "slack_file": {"id": "F1"}, "alt_text": "a fox"},
        {"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": "bold", "style": {"bold": True}},
                {"type": "link", "url": "https://l.example", "text": "link"}]},
            {"type": "rich_text_list", "style": "ordered", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "first"}]}]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "x = 1"}]}]},
        {"type": "table", "rows": [[{"type": "raw_text", "text": "Name"}],
                                   [{"type": "raw_text", "text": "Ada"}]]},
        {"type": "video"},
    ], names)
    assert "Title &lt;1&gt;" in out and "<b>hi</b>" in out and '<div class="fields">' in out
    assert '<hr class="blk divider">' in out and '<a href="https://x.example"' in out
    assert '<img class="blk-img" src="/files/F1" alt="a fox"' in out
    assert "<b>bold</b>" in out and "<ol" in out and "<li><div>first</div></li>" in out
    assert "<pre>x = 1</pre>" in out
    assert "<th>Name</th>" in out and "<td>Ada</td>" in out
    assert "[video block]" in out, "an unknown block is named, not dropped"


def test_native_stream_chunks_besides_markdown_are_shown() -> None:
    msg = Message(channel="C1", ts="1700000000.000200", user="UBOT", bot_id="BBOT",
                  stream=StreamState(started_at=0.0, text="Half an answer"))
    msg.stream.chunks = [  # type: ignore[union-attr]
        {"type": "plan_update", "title": "Looking into it"},
        {"type": "task_update", "id": "t1", "title": "Search", "status": "in_progress"},
        {"type": "task_update", "id": "t1", "title": "Search", "status": "complete"},
        {"type": "markdown_text", "text": "Half an answer"},
    ]
    out = body_html(msg, names)
    assert "Looking into it" in out and out.count("Search") == 1 and "✓ Search" in out
    assert "<p>Half an answer</p>" in out


def test_slack_emoji_names_become_characters() -> None:
    out = mrkdwn(":speech_balloon: <@U1> asked :+1: :no_such_emoji:", names)
    assert out.startswith("💬") and "👍" in out and ":no_such_emoji:" in out
