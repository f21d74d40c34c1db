"""Markdown → Slack mrkdwn, for `section`/`context` text where `markdown` blocks don't exist.

mrkdwn has no headings, lists or tables, so: headings → a bold line, lists → `•`/`1.` lines
indented per level, tables → an aligned monospace code block, `---` → a line of dashes.
Code fences lose their language tag (mrkdwn would print it as the first code line). Every
`&`, `<`, `>` outside Slack tokens is escaped, inside code too (Slack decodes them there).
"""

from __future__ import annotations

from typing import Any

from bot.rendering.inline import Atom, inline_atoms, join_atoms
from bot.rendering.slack_text import TokenShield, escape_mrkdwn
from bot.rendering.tables import monospace
from bot.rendering.tree import Node, parse
from bot.rendering.types import DEFAULT_LIMITS, Limits, slack_len

_BULLETS = ("•", "◦", "▪")
_INDENT = "    "


def to_mrkdwn(markdown: str) -> str:
    """Markdown → Slack mrkdwn (**b**→*b*, [t](u)→<u|t>, # h→*h*, ~~s~~→~s~, tables→code)."""
    shield = TokenShield()
    nodes = parse(shield.protect(markdown))
    return "\n\n".join(b for b in (_block(n, shield, 0) for n in nodes) if b).strip("\n")


def mrkdwn_sections(markdown: str, *, limits: Limits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """`section` blocks holding `markdown` as mrkdwn, each text within the section limit.

    For surfaces without `markdown` blocks (modals, App Home). Splits between lines; a code
    block cut in two is closed and re-opened.
    """
    limit = limits.section_chars
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    in_code = False
    for line in to_mrkdwn(markdown).split("\n"):
        for part in _cut(line, limit - 8):
            extra = slack_len(part) + 1
            if cur and size + extra + (4 if in_code else 0) > limit:
                chunks.append("\n".join([*cur, "```"] if in_code else cur))
                cur, size = (["```"], 4) if in_code else ([], 0)
            cur.append(part)
            size += extra
            if part.strip() == "```":
                in_code = not in_code
    if cur and "".join(cur).strip():
        chunks.append("\n".join(cur))
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks if c.strip()]


def _block(node: Node, shield: TokenShield, depth: int) -> str:
    kind = node.kind
    if kind == "paragraph":
        return join_atoms(inline_atoms(node.inline, shield, "mrkdwn"))
    if kind == "heading":
        atoms = [a for a in inline_atoms(node.inline, shield, "mrkdwn") if a.marker != "*"]
        return join_atoms([Atom("*", "open", "*"), *atoms, Atom("*", "close", "*")])
    if kind == "fence":
        return _code(shield.restore(node.content))
    if kind == "table" and node.table is not None:
        return _code(monospace(node.table, shield))
    if kind == "hr":
        return "──────────"
    if kind == "list":
        items = enumerate(node.children)
        return "\n".join(_item(node, n, item, shield, depth) for n, item in items)
    if kind == "blockquote":
        inner = "\n".join(_block(c, shield, depth) for c in node.children)
        lines = inner.split("\n")
        return "\n".join(line if line.startswith(">") else f"> {line}" for line in lines)
    return "\n".join(_block(c, shield, depth) for c in node.children)


def _item(lst: Node, index: int, item: Node, shield: TokenShield, depth: int) -> str:
    marker = f"{item.number or lst.start + index}." if lst.ordered else _BULLETS[depth % 3]
    pad = _INDENT * depth
    cont = pad + " " * (len(marker) + 1)
    out: list[str] = []
    for child in item.children:
        text = _block(child, shield, depth + 1)
        if child.kind in ("list", "fence", "table"):
            # Nested lists indent themselves; code must start at column 0 to stay code.
            if not out:
                out.append(f"{pad}{marker}")
            out.append(text)
            continue
        for line in text.split("\n"):
            out.append(f"{cont}{line}" if out else f"{pad}{marker} {line}")
    return "\n".join(out) if out else f"{pad}{marker}"


def _code(content: str) -> str:
    body = escape_mrkdwn(content.rstrip("\n").replace("```", "ˋˋˋ"))
    return f"```\n{body}\n```"


def _cut(line: str, size: int) -> list[str]:
    if slack_len(line) <= size:
        return [line]
    return [line[i : i + size] for i in range(0, len(line), size)]
