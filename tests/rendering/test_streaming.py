"""render_streaming: partial answers never render broken."""

from __future__ import annotations

from bot.rendering import render_streaming
from bot.rendering.partial import repair_partial
from tests.rendering.helpers import assert_within_limits


def _md(partial: str) -> str:
    messages = render_streaming(partial)
    assert_within_limits(messages)
    return "\n\n".join(b["text"] for m in messages for b in m.blocks if b["type"] == "markdown")


def test_open_fence_is_closed_with_language() -> None:
    assert _md("Code:\n\n```python\nx = 1\n") == "Code:\n\n```python\nx = 1\n```"


def test_open_fence_inside_list() -> None:
    assert _md("1. step\n\n   ```sh\n   make") == "1. step\n\n   ```sh\n   make\n   ```"


def test_half_written_link_shows_its_label() -> None:
    assert repair_partial("see [the wiki](https://en.wikipedia.org/wiki/Foo_(ba") == "see the wiki"
    assert repair_partial("see [the wi") == "see the wi"
    assert repair_partial("done [a](https://e.io) ok") == "done [a](https://e.io) ok"
    assert repair_partial("array[i") == "array[i"


def test_dangling_emphasis_is_closed_or_dropped() -> None:
    assert repair_partial("This is **very imp") == "This is **very imp**"
    assert repair_partial("This is *it") == "This is *it*"
    assert repair_partial("Done. **") == "Done."
    assert repair_partial("~~old") == "~~old~~"
    assert repair_partial("**a** and *b") == "**a** and *b*"
    assert repair_partial("snake_case_name and 2 * 3") == "snake_case_name and 2 * 3"


def test_open_code_span_is_closed() -> None:
    assert repair_partial("run `make te") == "run `make te`"


def test_partial_slack_token_is_dropped() -> None:
    assert repair_partial("ping <@U12") == "ping"
    assert repair_partial("see <https://exa") == "see"
    assert repair_partial("a < b") == "a < b"


def test_table_header_waits_for_delimiter_row() -> None:
    assert render_streaming("Results:\n\n| a | b |")[0].blocks == [
        {"type": "markdown", "text": "Results:"}
    ]
    [msg] = render_streaming("| a | b |\n|---|---|\n| 1 |")
    assert [b["type"] for b in msg.blocks] == ["table"]


def test_long_partial_answer_rolls_over_to_more_messages() -> None:
    partial = "\n\n".join("paragraph " * 200 for _ in range(12)) + "\n\n```js\nlet x"
    messages = render_streaming(partial)
    assert len(messages) >= 2
    assert_within_limits(messages)
    assert messages[-1].blocks[-1]["text"].endswith("```js\nlet x\n```")
