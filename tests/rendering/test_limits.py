"""Long answers: split at safe boundaries, every limit respected, nothing lost, order kept."""

from __future__ import annotations

import random
import re

import pytest

from bot.rendering import Limits, render_answer, render_streaming
from bot.rendering.types import block_chars
from tests.rendering.helpers import assert_within_limits, is_subsequence, letters, visible_text

ACTIONS = {"type": "actions", "elements": [
    {"type": "button", "text": {"type": "plain_text", "text": "Regenerate"}, "action_id": "regen"},
]}
SOURCES = {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://a.io|Source A>"}]}


def _long_answer(target: int = 30_000) -> tuple[str, list[str]]:
    rnd = random.Random(30_000)
    parts: list[str] = []
    words: list[str] = []
    n = 0
    while sum(len(p) + 2 for p in parts) < target:
        n += 1
        kind = n % 5
        if kind == 0:
            body = [f"fn{n}x{i}" for i in range(25)]
            parts.append("```python\n" + "\n".join(f"{w} = compute()" for w in body) + "\n```")
            words += [t for w in body for t in (w, "compute")]
        elif kind == 1:
            heading = f"Section{n}"
            parts.append(f"## {heading}")
            words.append(heading)
        elif kind == 2:
            items = [f"item{n}n{i}" for i in range(12)]
            parts.append("\n".join(f"- {w} with **bold{n}b{i}**" for i, w in enumerate(items)))
            words += [t for i, w in enumerate(items) for t in (w, "with", f"bold{n}b{i}")]
        else:
            para = [f"w{n}p{rnd.randrange(10**6)}" for _ in range(90)]
            parts.append(" ".join(para[:45]) + " [a link](https://x.io/(y)) " + " ".join(para[45:]))
            words += [*para[:45], "a", "link", *para[45:]]
    return "\n\n".join(parts), words


def test_30k_answer_is_complete_ordered_and_within_limits() -> None:
    markdown, words = _long_answer()
    assert len(markdown) >= 30_000
    messages = render_answer(markdown, extra_blocks=[ACTIONS, SOURCES])
    assert len(messages) >= 3
    assert_within_limits(messages)
    seen = re.findall(r"\w+", visible_text(messages))
    assert is_subsequence(words, seen)
    assert messages[-1].blocks[-2:] == [ACTIONS, SOURCES]
    assert all(ACTIONS not in m.blocks for m in messages[:-1])


def test_single_15k_code_block_splits_at_lines_with_language_kept() -> None:
    lines = [f"    total += values[{i}] * weight({i})  # step {i}" for i in range(330)]
    markdown = "Here you go:\n\n```python\n" + "\n".join(lines) + "\n```\n\nThat's all."
    assert len(markdown) > 15_000
    messages = render_answer(markdown)
    assert len(messages) == 2
    assert_within_limits(messages)
    texts = [b["text"] for m in messages for b in m.blocks]
    fences = [t for t in texts if "```python\n" in t]
    assert len(fences) == 2
    rebuilt: list[str] = []
    for text in texts:
        body = text.split("```python\n", 1)[1].split("\n```", 1)[0]
        rebuilt += body.split("\n")
    assert rebuilt == lines  # every line, in order, none cut in the middle
    assert texts[-1].endswith("That's all.")


def test_list_item_split_keeps_items_whole_and_numbering() -> None:
    markdown = "\n".join(f"{i}. step {i} " + "detail " * 40 for i in range(1, 120))
    messages = render_answer(markdown)
    assert len(messages) > 1
    assert_within_limits(messages)
    second = messages[1].blocks[0]["text"]
    assert re.match(r"\d+\. step \d+ detail", second)
    numbers = [int(n) for m in messages for n in re.findall(r"^(\d+)\. ", m.blocks[0]["text"],
                                                             flags=re.M)]
    assert numbers == list(range(1, 120))


def test_long_paragraph_never_cuts_links_or_emphasis() -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    markdown = f"**{words}** and [link text](https://e.io/a_(b)) <@U1> {words}"
    messages = render_answer(markdown)
    assert_within_limits(messages)
    for msg in messages:
        text = msg.blocks[0]["text"]
        assert text.count("**") % 2 == 0
        assert text.count("[") == text.count("](")
    joined = "\n".join(m.blocks[0]["text"] for m in messages)
    assert "[link text](https://e.io/a_(b))" in joined
    assert "<@U1>" in joined


def test_big_table_splits_into_tables_of_100_rows_one_per_message() -> None:
    rows = "\n".join(f"| r{i} | {'値' * 3} |" for i in range(250))
    messages = render_answer(f"Data:\n\n| key | value |\n|---|---|\n{rows}\n")
    assert_within_limits(messages)
    tables = [b for m in messages for b in m.blocks if b["type"] == "table"]
    assert [len(t["rows"]) for t in tables] == [100, 100, 53]
    assert all(t["rows"][0] == tables[0]["rows"][0] for t in tables)  # header repeated
    seen = visible_text(messages)
    assert is_subsequence([f"r{i}" for i in range(250)], re.findall(r"\w+", seen))


def test_extra_blocks_get_own_message_when_last_is_full() -> None:
    filler = "x " * 5_450
    big_context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "y" * 900}]}
    messages = render_answer(filler, extra_blocks=[big_context])
    assert_within_limits(messages)
    assert messages[-1].blocks == [big_context]
    assert len(messages) == 2


def test_extra_blocks_too_big_are_rejected() -> None:
    with pytest.raises(ValueError):
        render_answer("hi", extra_blocks=[{"type": "divider"}] * 51)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "z" * 3_001}}
    with pytest.raises(ValueError):
        render_answer("hi", extra_blocks=[section])


@pytest.mark.parametrize("budget", [400, 1_000, 3_000])
def test_small_budgets_still_hold(budget: int) -> None:
    markdown, words = _long_answer(8_000)
    limits = Limits(markdown_chars=budget, fallback_chars=500, table_chars=budget)
    messages = render_answer(markdown, limits=limits)
    assert_within_limits(messages, limits)
    assert is_subsequence(words, re.findall(r"\w+", visible_text(messages)))


def test_streaming_earlier_messages_are_stable_as_text_grows() -> None:
    markdown, _ = _long_answer(25_000)
    before = render_streaming(markdown[:20_000])
    after = render_streaming(markdown)
    assert len(before) >= 2
    assert before[:-2] == after[: len(before) - 2]


def test_empty_and_whitespace_answers() -> None:
    assert render_streaming("") == []
    [msg] = render_answer("   \n")
    assert msg.text and msg.blocks == []
    [msg] = render_answer("", extra_blocks=[ACTIONS])
    assert msg.blocks == [ACTIONS]


def test_fallback_text_is_trimmed_plain_text() -> None:
    markdown = "**Bold** start. " + "lorem ipsum " * 800
    [msg] = render_answer(markdown)
    assert msg.text.startswith("Bold start.")
    assert msg.text.endswith("…") and len(msg.text) <= 3_000
    assert block_chars(msg.blocks) <= 11_000


def test_cjk_letters_survive_splitting() -> None:
    markdown = "\n\n".join(f"これは**重要{i}**な段落です。" * 40 for i in range(30))
    messages = render_answer(markdown)
    assert_within_limits(messages)
    assert letters(visible_text(messages)) == letters(markdown)
