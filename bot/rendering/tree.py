"""Parse model Markdown (CommonMark + GFM tables/strikethrough) into a small block tree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

# markdown-it-py's "commonmark" preset already ships the GFM `table` and `strikethrough` rules
# (just disabled); no plugin package is needed. Raw HTML stays text (it gets escaped on output).
# `text_join` is disabled so backslash escapes and entities stay `text_special` tokens and can be
# re-emitted the way the model wrote them.
_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_MD.disable("text_join")


@dataclass
class TableData:
    """A GFM table: header cells, body rows and column alignments (cells are inline tokens)."""

    header: list[list[Token]]
    rows: list[list[list[Token]]]
    aligns: list[str]


@dataclass
class Node:
    """One block: paragraph, heading, fence, hr, table, list, item or blockquote."""

    kind: str
    children: list[Node] = field(default_factory=list)
    inline: list[Token] = field(default_factory=list)
    level: int = 0  # heading level
    info: str = ""  # fence info string (language tag)
    content: str = ""  # fence body
    ordered: bool = False
    start: int = 1  # first number of an ordered list
    number: int = 0  # number of an ordered list item
    tight: bool = True
    markup: str = ""  # list bullet (`-`, `*`, `+`) or ordered delimiter (`.`, `)`)
    table: TableData | None = None


def parse_tokens(markdown: str) -> list[Token]:
    """Raw markdown-it token stream for `markdown`."""
    return _MD.parse(markdown)


def parse(markdown: str) -> list[Node]:
    """Top-level block nodes of `markdown`."""
    root = Node("root")
    stack = [root]
    tokens = parse_tokens(markdown)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        parent = stack[-1]
        kind = tok.type
        if kind in ("paragraph_open", "heading_open"):
            node = Node("paragraph" if kind == "paragraph_open" else "heading")
            node.level = int(tok.tag[1]) if tok.tag.startswith("h") else 0
            node.inline = list(tokens[i + 1].children or [])
            if tok.hidden and parent.kind == "item":
                parent.tight = True
            elif parent.kind == "item":
                parent.tight = False
            parent.children.append(node)
            i += 3
            continue
        if kind in ("fence", "code_block"):
            info = _language(tok.info) if kind == "fence" else ""
            parent.children.append(Node("fence", info=info, content=tok.content))
        elif kind == "hr":
            parent.children.append(Node("hr"))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(tok.attrs.get("start", 1) or 1) if kind == "ordered_list_open" else 1
            node = Node("list", ordered=kind == "ordered_list_open", start=start, markup=tok.markup)
            parent.children.append(node)
            stack.append(node)
        elif kind == "list_item_open":
            number = int(tok.info) if tok.info.isdigit() else 0
            node = Node("item", number=number, tight=True)
            parent.children.append(node)
            stack.append(node)
        elif kind == "blockquote_open":
            node = Node("blockquote")
            parent.children.append(node)
            stack.append(node)
        elif kind in ("bullet_list_close", "ordered_list_close", "blockquote_close"):
            node = stack.pop()
            if node.kind == "list":
                node.tight = all(item.tight for item in node.children)
        elif kind == "list_item_close":
            stack.pop()
        elif kind == "table_open":
            end = _find_close(tokens, i, "table_close")
            parent.children.append(Node("table", table=_table(tokens[i:end])))
            i = end
        i += 1
    return root.children


def _language(info: str) -> str:
    """The language tag of a fence info string (`python {linenos}` → `python`); "" if odd."""
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    return word if re.fullmatch(r"[\w+#.\-]{1,40}", word) else ""


def _find_close(tokens: list[Token], start: int, close: str) -> int:
    for j in range(start, len(tokens)):
        if tokens[j].type == close:
            return j
    return len(tokens) - 1


def _table(tokens: list[Token]) -> TableData:
    header: list[list[Token]] = []
    rows: list[list[list[Token]]] = []
    aligns: list[str] = []
    row: list[list[Token]] = []
    in_head = False
    for j, tok in enumerate(tokens):
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            inline = tokens[j + 1] if tokens[j + 1].type == "inline" else None
            row.append(list(inline.children or []) if inline else [])
            if in_head:
                style = str(tok.attrs.get("style", ""))
                aligns.append(style.removeprefix("text-align:") or "left")
        elif tok.type == "tr_close":
            if in_head:
                header = row
            else:
                rows.append(row)
    return TableData(header=header, rows=rows, aligns=aligns)
