"""Markdown → plain text for the top-level `text` fallback (notifications, screen readers)."""

from __future__ import annotations

from bot.rendering.inline import render_inline
from bot.rendering.slack_text import TokenShield, escape_mrkdwn_keep_tokens, strip_invisible
from bot.rendering.tables import cell_plain
from bot.rendering.tree import Node, parse
from bot.rendering.types import slack_len


def plain_text(markdown: str) -> str:
    """Readable text of `markdown`: markers removed, lists as bullets, code as-is (unescaped)."""
    shield = TokenShield()
    nodes = parse(shield.protect(markdown))
    return strip_invisible("\n\n".join(_block(n, shield, 0) for n in nodes).strip())


def fallback_text(plain: str, limit: int) -> str:
    """`plain` escaped for the mrkdwn `text` field and trimmed to `limit` with "…"."""
    return trim_text(escape_mrkdwn_keep_tokens(plain.strip()), limit)


def trim_text(text: str, limit: int) -> str:
    """Cut mrkdwn `text` to `limit` characters at a word boundary, never inside a token."""
    if slack_len(text) <= limit:
        return text
    end = size = 0
    while end < len(text) and size + slack_len(text[end]) <= limit - 1:
        size += slack_len(text[end])
        end += 1
    cut = text[:end]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > len(cut) - 200:
        cut = cut[:space]
    # Never end inside a Slack token (`<@U1…`) or an entity (`&am…`).
    lt, gt = cut.rfind("<"), cut.rfind(">")
    if lt > gt:
        cut = cut[:lt]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def _block(node: Node, shield: TokenShield, depth: int) -> str:
    kind = node.kind
    if kind in ("paragraph", "heading"):
        return render_inline(node.inline, shield, "plain")
    if kind == "fence":
        return shield.restore(node.content).rstrip("\n")
    if kind == "hr":
        return "———"
    if kind == "table" and node.table is not None:
        rows = [node.table.header, *node.table.rows]
        return "\n".join(" | ".join(cell_plain(c, shield) for c in row) for row in rows)
    if kind == "list":
        lines = []
        for n, item in enumerate(node.children):
            marker = f"{item.number or node.start + n}." if node.ordered else "•"
            body = "\n".join(_block(c, shield, depth + 1) for c in item.children)
            first, *rest = body.split("\n") if body else [""]
            lines.append("  " * depth + f"{marker} {first}".rstrip())
            lines.extend(rest)
        return "\n".join(lines)
    return "\n\n".join(_block(c, shield, depth) for c in node.children)
