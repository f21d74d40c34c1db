"""to_mrkdwn / mrkdwn_sections: Markdown → Slack mrkdwn for section and context text."""

from __future__ import annotations

from bot.rendering import Limits, mrkdwn_sections, to_mrkdwn
from bot.rendering.tables import display_width

ZWSP = "\u200b"


def test_inline_conversions() -> None:
    md = "**b** *i* _j_ ~~s~~ `c` [t](https://u.io/a_(b)) ![alt](https://i.io/x.png)"
    assert to_mrkdwn(md) == "*b* _i_ _j_ ~s~ `c` <https://u.io/a_(b)|t> <https://i.io/x.png|alt>"


def test_headings_become_bold_lines() -> None:
    assert to_mrkdwn("# Title\n\n### Sub **x**") == "*Title*\n\n*Sub x*"


def test_escaping_keeps_slack_tokens() -> None:
    md = "Hi <@U123> <!here> <https://x.y|x>: a < b & c > d"
    assert to_mrkdwn(md) == "Hi <@U123> <!here> <https://x.y|x>: a &lt; b &amp; c &gt; d"


def test_link_label_and_url_are_made_safe() -> None:
    assert to_mrkdwn("[a > b](https://e.io/q?x=1&y=2)") == "<https://e.io/q?x=1&y=2|a &gt; b>"


def test_cjk_emphasis_gets_word_boundaries() -> None:
    assert to_mrkdwn("これは**重要**です") == f"これは{ZWSP}*重要*{ZWSP}です"


def test_code_fence_drops_language_and_escapes() -> None:
    assert to_mrkdwn("```python\nif a < b:\n    pass\n```") == "```\nif a &lt; b:\n    pass\n```"


def test_nested_lists_are_indented() -> None:
    md = "- one\n  - two\n    1. three\n- four"
    assert to_mrkdwn(md) == "• one\n    ◦ two\n        1. three\n• four"


def test_quote_and_rule() -> None:
    assert to_mrkdwn("> quoted **x**\n\n---") == "> quoted *x*\n\n──────────"


def test_table_becomes_aligned_code_block_cjk_aware() -> None:
    out = to_mrkdwn("| 名前 | n |\n|---|--:|\n| 東京都 | 1 |\n| a | 22 |")
    lines = out.split("\n")
    assert lines[0] == lines[-1] == "```"
    rows = lines[1:-1]
    assert len({display_width(r) for r in rows}) == 1  # every row equally wide on screen
    assert rows[2] == "東京都 |  1"


def test_sections_respect_limit_and_keep_code_fenced() -> None:
    md = "# Report\n\n```\n" + "x = 1\n" * 1_500 + "```\n\n" + "word " * 2_000
    blocks = mrkdwn_sections(md, limits=Limits())
    assert len(blocks) > 3
    for block in blocks:
        text = block["text"]["text"]
        assert len(text) <= 3_000
        assert sum(line.strip() == "```" for line in text.split("\n")) % 2 == 0
