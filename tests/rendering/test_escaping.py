"""Escaping and word boundaries inside `markdown` blocks."""

from __future__ import annotations

from markdown_it import MarkdownIt

from bot.rendering import Limits, render_answer
from tests.rendering.helpers import assert_within_limits

ZWSP = "\u200b"


def _md(markdown: str) -> str:
    [msg] = render_answer(markdown)
    return "\n\n".join(b["text"] for b in msg.blocks if b["type"] == "markdown")


def test_stray_angle_brackets_escaped_tokens_untouched() -> None:
    out = _md("<@U123> <!here> <https://x.y|x> a < b & c > d")
    assert out == "<@U123> <!here> <https://x.y|x> a &lt; b & c &gt; d"


def test_literal_entities_stay_literal() -> None:
    assert _md("write &lt;b&gt; or &amp;") == "write &lt;b&gt; or &"  # shows: <b> or &
    assert _md("AT&T and R&D") == "AT&T and R&D"


def test_urls_and_code_are_not_escaped() -> None:
    out = _md("[q](https://e.io/?a=1&b=<2>) `a < b && c` ")
    assert out == "[q](https://e.io/?a=1&b=%3C2%3E) `a < b && c`"


def test_parentheses_in_urls() -> None:
    assert _md("[w](https://en.wikipedia.org/wiki/Foo_(bar))") == \
        "[w](https://en.wikipedia.org/wiki/Foo_(bar))"
    assert _md("[w](<https://e.io/a)b>)") == "[w](https://e.io/a%29b)"


def test_zero_width_space_only_where_markers_touch_letters() -> None:
    assert _md("これは**重要**です") == f"これは{ZWSP}**重要**{ZWSP}です"
    assert _md("plain **bold**, ok") == "plain **bold**, ok"
    assert _md("中文`代码`中文") == f"中文{ZWSP}`代码`{ZWSP}中文"


def test_continuation_chunks_never_start_a_list_or_heading() -> None:
    md = " ".join(f"w{'x' * (i % 7)} - # 1." for i in range(400))
    limits = Limits(markdown_chars=200, fallback_chars=100)
    messages = render_answer(md, limits=limits)
    assert_within_limits(messages, limits)
    assert any(m.blocks[0]["text"].startswith(ZWSP) for m in messages)  # the guard was needed
    parser = MarkdownIt("commonmark")
    for msg in messages:
        kinds = {t.type for t in parser.parse(msg.blocks[0]["text"])}
        assert kinds == {"paragraph_open", "inline", "paragraph_close"}


def test_html_is_text() -> None:
    assert _md('<div class="x">hi</div>') == '&lt;div class="x"&gt;hi&lt;/div&gt;'


def test_indented_continuation_lines_stay_paragraph_text() -> None:
    # Found by fuzzing: the parser keeps these as text only because of their indentation,
    # which re-emitting drops; a zero-width space keeps them from becoming a fence/heading.
    for source in ("intro\n\t```not a fence", "intro\n    # not a heading", "a\n\t| x |\n\t|---|"):
        out = _md(source)
        kinds = {t.type for t in MarkdownIt("commonmark").enable("table").parse(out)}
        assert kinds == {"paragraph_open", "inline", "paragraph_close"}, out


def test_fence_info_is_reduced_to_the_language_tag() -> None:
    assert _md("```python {linenos=true}\nx\n```") == "```python\nx\n```"
    assert _md("```a|b\n|---|\n```") == "```\n|---|\n```"
