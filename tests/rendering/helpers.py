"""Shared checks for rendering tests: every Slack limit per message, and visible content."""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from slack_sdk.models.blocks import Block

from bot.rendering import Limits, SlackMessage
from bot.rendering.types import DEFAULT_LIMITS, block_chars, slack_len

_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_CONTAINER_PREFIX = re.compile(r"^(?:[ ]*>)*[ ]*")
ZWSP = "\u200b"


def assert_within_limits(messages: list[SlackMessage], limits: Limits = DEFAULT_LIMITS) -> None:
    """Fail if any message breaks a Slack limit (or our safety budget)."""
    assert messages, "at least one message"
    for n, msg in enumerate(messages):
        where = f"message {n}"
        assert msg.text.strip(), f"{where}: empty fallback text"
        assert slack_len(msg.text) <= min(limits.fallback_chars, limits.text_chars), where
        assert len(msg.blocks) <= limits.blocks, where
        assert block_chars(msg.blocks) <= limits.markdown_chars, where
        markdown = [b["text"] for b in msg.blocks if b["type"] == "markdown"]
        assert sum(slack_len(t) for t in markdown) <= min(limits.markdown_chars, 12_000), where
        tables = [b for b in msg.blocks if b["type"] == "table"]
        assert len(tables) <= limits.tables_per_message, where
        for table in tables:
            assert 1 <= len(table["rows"]) <= limits.table_rows, where
            assert block_chars(table) <= limits.table_chars, where
            for row in table["rows"]:
                assert 1 <= len(row) <= limits.table_cells, where
                assert all(_cell_text(c).strip() or _has_entity(c) for c in row), where
        for block in msg.blocks:
            if block["type"] == "section":
                assert slack_len(block["text"]["text"]) <= limits.section_chars, where
            Block.parse(block).validate_json()  # slack_sdk's own validators (lengths, required)
        for text in markdown:
            assert text.strip(), f"{where}: empty markdown block"
            assert _fences_closed(text), f"{where}: unclosed code fence"


def _fences_closed(text: str) -> bool:
    """Every fenced code block in `text` has its closing fence (none runs to the end)."""
    lines = text.split("\n")
    for tok in _MD.parse(text):
        if tok.type != "fence" or tok.map is None:
            continue
        start, end = tok.map
        closing = _CONTAINER_PREFIX.sub("", lines[end - 1]).rstrip()
        if end - start < 2 or not re.fullmatch(rf"{re.escape(tok.markup[0])}{{{len(tok.markup)},}}",
                                                closing):
            return False
    return True


def visible_text(messages: list[SlackMessage]) -> str:
    """What a reader sees, roughly: markdown parsed to text, table cells, in order."""
    out: list[str] = []
    for msg in messages:
        for block in msg.blocks:
            if block["type"] == "markdown":
                out.append(_markdown_text(block["text"]))
            elif block["type"] == "table":
                out.extend(_cell_text(c) for row in block["rows"] for c in row)
    return "\n".join(out).replace(ZWSP, "")


def letters(text: str) -> str:
    """Only the letters (any script) of `text`, in order."""
    return "".join(re.findall(r"[^\W\d_]", text.replace(ZWSP, "")))


def is_subsequence(needle: list[str] | str, hay: list[str] | str) -> bool:
    """True if `needle` appears in `hay` in order (gaps allowed)."""
    it = iter(hay)
    return all(any(x == y for y in it) for x in needle)


def _markdown_text(text: str) -> str:
    parts: list[str] = []
    for tok in _MD.parse(text):
        if tok.type in ("fence", "code_block"):
            parts.append(tok.content)
        for child in tok.children or []:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append("\n")
            elif child.type == "image":
                parts.append(child.content)
        parts.append("\n")
    return "".join(parts)


def _cell_text(cell: dict[str, Any]) -> str:
    return "".join(str(el.get("text", "")) for sec in cell.get("elements", [])
                   for el in sec.get("elements", []))


def _has_entity(cell: dict[str, Any]) -> bool:
    return any(el.get("type") in ("user", "channel", "broadcast", "usergroup", "link", "date")
               for sec in cell.get("elements", []) for el in sec.get("elements", []))
