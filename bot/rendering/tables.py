"""GFM tables → Slack `table` blocks, or an aligned monospace layout when a block cannot fit.

Choice: Slack's native `table` block (docs.slack.dev/reference/block-kit/blocks/table-block;
`TableBlock` in slack_sdk 3.47): ≤100 rows × ≤20 cells, cells `raw_text`/`rich_text`. The
`markdown` block only renders pipe tables on workspaces that got the 2026-03 rich-markdown
rollout (older docs list tables as unsupported), so relying on it is not safe. Known table-block
constraints handled here:

* one table block per message (`only_one_table_allowed`) — enforced by the packer;
* empty cells are rejected (getnao/nao#1143: "must be more than N characters"), so they get "-";
* more than 20 columns, or a single row too large for a message: monospace code block instead,
  aligned by display width (CJK counts double via `unicodedata.east_asian_width`);
* more than 100 rows or too much text: split into several tables, header repeated.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from markdown_it.token import Token

from bot.rendering.inline import render_inline
from bot.rendering.slack_text import SLACK_TOKEN_RE, TokenShield
from bot.rendering.tree import TableData
from bot.rendering.types import Limits, block_chars

EMPTY_CELL = "-"
_STYLES = {"strong": "bold", "em": "italic", "s": "strike"}


def display_width(text: str) -> int:
    """Monospace columns `text` occupies: wide/fullwidth characters count 2, combining 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or ch == "\u200b":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def cell_plain(tokens: list[Token], shield: TokenShield) -> str:
    """A cell as one line of plain text."""
    return " ".join(render_inline(tokens, shield, "plain").split())


def monospace(table: TableData, shield: TokenShield) -> str:
    """The table as aligned plain-text lines (for a code block)."""
    grid = [[cell_plain(c, shield) for c in table.header]]
    grid += [[cell_plain(c, shield) for c in row] for row in table.rows]
    ncols = max((len(r) for r in grid), default=0)
    widths = [max((display_width(r[i]) for r in grid if i < len(r)), default=0)
              for i in range(ncols)]
    aligns = table.aligns + ["left"] * (ncols - len(table.aligns))
    lines = []
    for n, row in enumerate(grid):
        cells = [_pad(row[i] if i < len(row) else "", widths[i], aligns[i]) for i in range(ncols)]
        lines.append(" | ".join(cells).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * max(w, 1) for w in widths))
    return "\n".join(lines)


def table_blocks(table: TableData, shield: TokenShield, limits: Limits,
                 budget: int) -> list[dict[str, Any]] | None:
    """One or more `table` blocks for `table`, or None when it must fall back to monospace."""
    ncols = len(table.header)
    if ncols == 0 or ncols > limits.table_cells:
        return None
    header = [rich_cell(c, shield, bold=True) for c in table.header]
    rows = [[rich_cell(c, shield) for c in row] for row in table.rows]
    cap = min(limits.table_chars, budget)
    settings = [{"align": a if a in ("left", "center", "right") else "left", "is_wrapped": True}
                for a in table.aligns]
    head_chars = block_chars(header)
    blocks: list[dict[str, Any]] = []
    chunk: list[list[dict[str, Any]]] = []
    chars = head_chars
    for row in rows:
        row_chars = block_chars(row)
        if head_chars + row_chars > cap:
            return None
        if chunk and (chars + row_chars > cap or len(chunk) + 1 >= limits.table_rows):
            blocks.append(_table_block(header, chunk, settings))
            chunk, chars = [], head_chars
        chunk.append(row)
        chars += row_chars
    if chunk or not blocks:
        if head_chars > cap:
            return None
        blocks.append(_table_block(header, chunk, settings))
    return blocks


def table_plain(block: dict[str, Any]) -> str:
    """Plain text of a table block (cells joined by " | ", one row per line)."""
    return "\n".join(" | ".join(_cell_text(c) for c in row) for row in block.get("rows", []))


def rich_cell(tokens: list[Token], shield: TokenShield, *, bold: bool = False) -> dict[str, Any]:
    """A `rich_text` table cell keeping bold/italic/strike/code, links and Slack mentions."""
    elements: list[dict[str, Any]] = []
    active: dict[str, int] = {"bold": int(bold), "italic": 0, "strike": 0}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind in ("text", "text_special"):
            _add_text(elements, shield.restore(tok.content), active)
        elif kind in ("softbreak", "hardbreak"):
            _add_text(elements, " ", active)
        elif kind == "code_inline":
            _add_plain(elements, shield.restore(tok.content), {**active, "code": 1})
        elif kind.endswith("_open") and kind[:-5] in _STYLES:
            active[_STYLES[kind[:-5]]] += 1
        elif kind.endswith("_close") and kind[:-6] in _STYLES:
            active[_STYLES[kind[:-6]]] -= 1
        elif kind in ("link_open", "image"):
            j = i
            if kind == "link_open":
                while j < len(tokens) and tokens[j].type != "link_close":
                    j += 1
                label = cell_plain(tokens[i + 1 : j], shield)
                url = shield.restore_url(str(tok.attrs.get("href", "")))
            else:
                label = cell_plain(list(tok.children or []), shield)
                url = shield.restore_url(str(tok.attrs.get("src", "")))
            link: dict[str, Any] = {"type": "link", "url": url}
            if label and label != url:
                link["text"] = label
            if _style(active):
                link["style"] = _style(active)
            elements.append(link)
            i = j
        i += 1
    if not any(e.get("type") != "text" or str(e.get("text", "")).strip() for e in elements):
        elements = [{"type": "text", "text": EMPTY_CELL}]
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}


def _table_block(header: list[dict[str, Any]], rows: list[list[dict[str, Any]]],
                 settings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "table", "column_settings": settings, "rows": [header, *rows]}


def _pad(text: str, width: int, align: str) -> str:
    gap = width - display_width(text)
    if align == "right":
        return " " * gap + text
    if align == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def _style(active: dict[str, int]) -> dict[str, bool]:
    return {k: True for k, v in active.items() if v > 0}


def _add_plain(elements: list[dict[str, Any]], text: str, active: dict[str, int]) -> None:
    if not text:
        return
    style = _style(active)
    last = elements[-1] if elements else None
    if last and last.get("type") == "text" and last.get("style", {}) == style:
        last["text"] += text
        return
    element: dict[str, Any] = {"type": "text", "text": text}
    if style:
        element["style"] = style
    elements.append(element)


def _add_text(elements: list[dict[str, Any]], text: str, active: dict[str, int]) -> None:
    pos = 0
    for m in SLACK_TOKEN_RE.finditer(text):
        _add_plain(elements, text[pos : m.start()], active)
        elements.append(_token_element(m.group(0)))
        pos = m.end()
    _add_plain(elements, text[pos:], active)


def _token_element(token: str) -> dict[str, Any]:
    body = token[1:-1]
    target, _, label = body.partition("|")
    if target.startswith("@"):
        return {"type": "user", "user_id": target[1:]}
    if target.startswith("#"):
        return {"type": "channel", "channel_id": target[1:]}
    if target in ("!here", "!channel", "!everyone"):
        return {"type": "broadcast", "range": target[1:]}
    if target.startswith("!subteam^"):
        return {"type": "usergroup", "usergroup_id": target.split("^", 1)[1]}
    if target.startswith("!date^"):
        parts = target.split("^")
        if len(parts) >= 3 and parts[1].isdigit():
            return {"type": "date", "timestamp": int(parts[1]), "format": parts[2],
                    "fallback": label or parts[2]}
        return {"type": "text", "text": label or token}
    link: dict[str, Any] = {"type": "link", "url": target}
    if label:
        link["text"] = label
    return link


def _cell_text(cell: dict[str, Any]) -> str:
    if cell.get("type") == "raw_text":
        return str(cell.get("text", ""))
    parts: list[str] = []
    for section in cell.get("elements", []):
        for el in section.get("elements", []):
            kind = el.get("type")
            if kind in ("text", "link"):
                parts.append(str(el.get("text") or el.get("url", "")))
            elif kind == "user":
                parts.append(f"<@{el['user_id']}>")
            elif kind == "channel":
                parts.append(f"<#{el['channel_id']}>")
            elif kind == "broadcast":
                parts.append(f"<!{el['range']}>")
            elif kind == "usergroup":
                parts.append(f"<!subteam^{el['usergroup_id']}>")
            elif kind == "date":
                parts.append(str(el.get("fallback", "")))
    return re.sub(r"\s+", " ", "".join(parts))
