"""Value types shared by the rendering modules: limits, messages and Slack-style length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Slack limits the renderer keeps every message under (defaults leave a safety margin)."""

    # Slack allows 12,000 characters cumulative across the markdown blocks of one payload, but
    # `msg_blocks_too_long` has been seen at ~13.2k characters of *total* block content
    # (slackapi/bolt-js#2509). So this one budget covers all visible text of a message: markdown
    # blocks, table cells and the caller's extra blocks together.
    markdown_chars: int = 11_000
    section_chars: int = 3_000  # section / mrkdwn text object limit
    blocks: int = 50  # blocks per message
    text_chars: int = 40_000  # top-level `text`: Slack truncates beyond this
    fallback_chars: int = 3_000  # what we actually put in `text` (notifications, screen readers)
    table_rows: int = 100  # table block: rows per table (the header row counts)
    table_cells: int = 20  # table block: cells per row
    # Aggregate text of one table block. Not in Slack's docs; one integration reports 10k
    # (NousResearch/hermes-agent), so we stay under it. Unverified: safe option.
    table_chars: int = 10_000
    # "Only one table block per message" (`only_one_table_allowed`, seen by several integrations).
    tables_per_message: int = 1

    def __post_init__(self) -> None:
        """Reject budgets too small to hold a fenced line or a table row."""
        if self.markdown_chars < 200 or self.section_chars < 100 or self.fallback_chars < 50:
            raise ValueError("Limits too small to render into")
        if self.blocks < 5 or self.table_rows < 2 or self.table_cells < 1:
            raise ValueError("Limits too small to render into")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SlackMessage:
    """One Slack message: `text` fallback (plain-ish, ≤ 40,000) and Block Kit `blocks`."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def slack_len(text: str) -> int:
    """Length as Slack may count it: UTF-16 code units, so an emoji counts 2 (never under len)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def block_chars(value: Any) -> int:
    """Visible characters in a block (or list of blocks): every `text` and `url` string inside."""
    if isinstance(value, list):
        return sum(block_chars(v) for v in value)
    if isinstance(value, dict):
        total = 0
        for key, v in value.items():
            if key in ("text", "url", "alt_text") and isinstance(v, str):
                total += slack_len(v)
            else:
                total += block_chars(v)
        return total
    return 0
