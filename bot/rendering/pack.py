"""Pack rendered blocks into as few Slack messages as the limits allow, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.rendering.markdown_out import chunk, hard_split, serialize
from bot.rendering.plain import fallback_text, plain_text, trim_text
from bot.rendering.slack_text import TokenShield
from bot.rendering.tables import table_blocks, table_plain
from bot.rendering.tree import Node
from bot.rendering.types import Limits, SlackMessage, block_chars, slack_len

_SEP = "\n\n"
MARKDOWN_BLOCKS_MAX = 12_000  # Slack: cumulative text of all markdown blocks in one payload
EMPTY_TEXT = "(empty answer)"


@dataclass
class Piece:
    """One unit of message content: Markdown text, a table block or a divider."""

    kind: Literal["markdown", "table", "divider"]
    text: str = ""
    block: dict[str, Any] = field(default_factory=dict)
    keep_with_next: bool = False  # a heading or "…:" intro line: moves with what follows

    @property
    def size(self) -> int:
        """Characters this piece adds to the message budget."""
        return slack_len(self.text) if self.kind == "markdown" else block_chars(self.block)


@dataclass
class _Message:
    pieces: list[Piece] = field(default_factory=list)
    size: int = 0
    blocks: int = 0
    tables: int = 0

    def cost(self, piece: Piece) -> tuple[int, int]:
        """(characters, blocks) that adding `piece` would cost."""
        last = self.pieces[-1].kind if self.pieces else ""
        joins = piece.kind == "markdown" and last == "markdown"
        chars = piece.size + (len(_SEP) if joins else 0)
        return chars, 0 if joins else 1

    def add(self, piece: Piece) -> None:
        chars, blocks = self.cost(piece)
        self.pieces.append(piece)
        self.size += chars
        self.blocks += blocks
        self.tables += piece.kind == "table"


class Packer:
    """Greedy packer: fills a message, then opens the next; big blocks are split to fill gaps."""

    def __init__(self, shield: TokenShield, limits: Limits) -> None:
        self.shield = shield
        self.limits = limits
        self.budget = min(limits.markdown_chars, MARKDOWN_BLOCKS_MAX)
        self.messages: list[_Message] = [_Message()]

    def add_node(self, node: Node) -> None:
        """Add one top-level block."""
        if node.kind == "hr":
            self._place(Piece("divider", block={"type": "divider"}))
            return
        if node.kind == "table" and node.table is not None:
            blocks = table_blocks(node.table, self.shield, self.limits, self.budget)
            if blocks is not None:
                for block in blocks:
                    self._place(Piece("table", block=block))
                return
        text = serialize(node, self.shield)
        if not text.strip():
            return
        piece = Piece("markdown", text, keep_with_next=_is_lead_in(node, text))
        if self._fits(piece) or piece.size <= self.budget:
            self._place(piece)
            return
        cur = self.messages[-1]
        room = self.budget - cur.size - (len(_SEP) if cur.pieces else 0)
        if room < self.budget // 4 or cur.blocks >= self.limits.blocks:
            room = 0
        for text in chunk(node, self.shield, room, self.budget):
            parts = [text] if slack_len(text) <= self.budget else \
                hard_split(text, self.budget, self.budget)  # safety net, never expected
            for part in parts:
                if part.strip():
                    self._place(Piece("markdown", part))

    def messages_out(self, extra_blocks: list[dict[str, Any]]) -> list[SlackMessage]:
        """Finished messages; `extra_blocks` go at the end of the last one (or after it)."""
        msgs = [m for m in self.messages if m.pieces]
        out = [self._message(m.pieces) for m in msgs]
        if not extra_blocks:
            return out
        self._check_extras(extra_blocks)
        extra_chars = block_chars(extra_blocks)
        last = msgs[-1] if msgs else None
        if last and last.size + extra_chars <= self.budget \
                and last.blocks + len(extra_blocks) <= self.limits.blocks:
            out[-1] = SlackMessage(text=out[-1].text, blocks=[*out[-1].blocks, *extra_blocks])
        else:
            text = trim_text(" ".join(_texts(extra_blocks)), 300) if msgs else EMPTY_TEXT
            out.append(SlackMessage(text=text or "…", blocks=list(extra_blocks)))
        return out

    # -- internals -------------------------------------------------------------------------------
    def _fits(self, piece: Piece) -> bool:
        cur = self.messages[-1]
        chars, blocks = cur.cost(piece)
        if piece.kind == "table" and cur.tables >= self.limits.tables_per_message:
            return False
        return cur.size + chars <= self.budget and cur.blocks + blocks <= self.limits.blocks

    def _place(self, piece: Piece) -> None:
        if self._fits(piece):
            self.messages[-1].add(piece)
            return
        carried = self._carry(piece)
        self._new()
        for moved in [*carried, piece]:
            self.messages[-1].add(moved)

    def _carry(self, piece: Piece) -> list[Piece]:
        """Trailing lead-in pieces (headings, "…:" lines) to move along to the next message."""
        cur = self.messages[-1]
        n = 0
        while n + 1 < len(cur.pieces) and cur.pieces[-1 - n].keep_with_next:
            n += 1
        if not n:
            return []
        trial = _Message()
        for moved in [*cur.pieces[-n:], piece]:
            trial.add(moved)
        if trial.size > self.budget or trial.blocks > self.limits.blocks:
            return []
        carried = cur.pieces[-n:]
        rebuilt = _Message()
        for kept in cur.pieces[:-n]:
            rebuilt.add(kept)
        self.messages[-1] = rebuilt
        return carried

    def _new(self) -> None:
        if self.messages[-1].pieces:
            self.messages.append(_Message())

    def _message(self, pieces: list[Piece]) -> SlackMessage:
        blocks: list[dict[str, Any]] = []
        plain: list[str] = []
        run: list[str] = []
        for piece in [*pieces, Piece("divider")]:  # sentinel flushes the last run
            if piece.kind == "markdown":
                run.append(piece.text)
                continue
            if run:
                text = _SEP.join(run)
                blocks.append({"type": "markdown", "text": text})
                plain.append(plain_text(text))
                run = []
            if piece.kind == "table":
                blocks.append(piece.block)
                plain.append(table_plain(piece.block))
            elif piece.block:
                blocks.append(piece.block)
        limit = min(self.limits.fallback_chars, self.limits.text_chars)
        text = fallback_text("\n\n".join(p for p in plain if p), limit)
        return SlackMessage(text=text or "…", blocks=blocks)

    def _check_extras(self, extra_blocks: list[dict[str, Any]]) -> None:
        if len(extra_blocks) > self.limits.blocks or block_chars(extra_blocks) > self.budget:
            raise ValueError("extra_blocks alone exceed one message's limits")
        for block in extra_blocks:
            text = block.get("text")
            body = str(text.get("text", "")) if isinstance(text, dict) else ""
            if slack_len(body) > self.limits.section_chars:
                raise ValueError("extra block text exceeds the section text limit")


def _is_lead_in(node: Node, text: str) -> bool:
    if node.kind == "heading":
        return True
    return node.kind == "paragraph" and len(text) <= 300 and text.rstrip().endswith((":", "："))


def _texts(value: Any) -> list[str]:
    """Every `text` string inside blocks (already mrkdwn/plain_text, so not escaped again)."""
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        out: list[str] = []
        for key, v in value.items():
            out.extend([v] if key == "text" and isinstance(v, str) else _texts(v))
        return out
    return []
