"""Make a half-written answer safe to show: nothing dangling, nothing that renders broken.

Only the tail can be incomplete. An unclosed ``` fence needs no help (the parser runs it to the
end and the serializer always writes the closing fence); in prose the tail loses a half-written
link/Slack token, a header row still waiting for its `|---|` line is held back, and open
emphasis or code spans are closed so `**Impor` shows as bold instead of two stray asterisks.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

from bot.rendering.tree import parse_tokens

_LINK_START_RE = re.compile(
    r"(?:^|(?<=[\s(\[{'\"*_~]))!?\[(?P<label>[^\[\]\n]*)(?P<rest>\]\(\S*)?$"
)
_PARTIAL_TOKEN_RE = re.compile(r"<(?:[@#!][^<>\n]*|[a-z]{1,6}(?::[^<>\n]*)?)$")
_TRAILING_RUN_RE = re.compile(r"(?:^|(?<=\s))[*_~`]+$")
_PREFIX_RE = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:[-*+][ \t]+|\d{1,9}[.)][ \t]+)?")
_DELIMS = "*_~"


def repair_partial(markdown: str) -> str:
    """`markdown` with its unfinished tail made safe (see module docstring)."""
    text = markdown.rstrip()
    if not text:
        return ""
    tokens = parse_tokens(text)
    text = _hold_back_table_header(text, tokens)
    if text != markdown.rstrip():
        tokens = parse_tokens(text)
    last = _last_leaf(tokens)
    if last is None or last.type != "inline" or last.map is None:
        return text  # ends in code (open fences get closed on output) or nothing inline
    lines = text.split("\n")
    start = last.map[0]
    head = "\n".join(lines[:start])
    tail = "\n".join(lines[start:])
    dropped = _drop_partial_token(_drop_partial_link(tail))
    fixed = _close_inline(dropped)
    if _literal_delims(fixed) > _literal_delims(dropped):
        fixed = dropped  # our closers would only add stray characters: leave the tail as is
    return f"{head}\n{fixed}" if head else fixed


def _last_leaf(tokens: list[Token]) -> Token | None:
    for tok in reversed(tokens):
        if tok.type in ("inline", "fence", "code_block"):
            return tok
    return None


def _hold_back_table_header(text: str, tokens: list[Token]) -> str:
    """Drop a trailing paragraph made only of `|` lines (a table whose delimiter row is due)."""
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        if tok.level != 0 or tok.nesting == -1:
            continue
        if tok.type == "paragraph_open" and tok.map is not None:
            lines = text.split("\n")
            body = lines[tok.map[0] : tok.map[1]]
            if body and all(line.lstrip().startswith("|") for line in body):
                return "\n".join(lines[: tok.map[0]]).rstrip()
        return text
    return text


def _drop_partial_link(tail: str) -> str:
    m = _LINK_START_RE.search(tail)
    if not m:
        return tail
    rest = m.group("rest")
    if rest is not None:
        depth = 1
        for ch in rest[2:]:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                return tail  # the destination is complete: a real link
    return tail[: m.start()] + m.group("label")


def _drop_partial_token(tail: str) -> str:
    return _PARTIAL_TOKEN_RE.sub("", tail)


def _close_inline(tail: str) -> str:
    """Append closers for emphasis / code spans the tail opened but has not closed yet."""
    tail = _TRAILING_RUN_RE.sub("", tail.rstrip()).rstrip()
    stack: list[tuple[str, int]] = []
    for line in tail.split("\n"):
        if stack and stack[-1][0] == "`":
            break
        prefix = _PREFIX_RE.match(line)
        _scan(line[prefix.end() :] if prefix else line, stack)
    closers = "".join(ch * n for ch, n in reversed(stack))
    return tail + closers


def _scan(text: str, stack: list[tuple[str, int]]) -> None:
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        n = len(text[i:]) - len(text[i:].lstrip(ch)) if ch in _DELIMS + "`" else 1
        if ch == "`":
            close = text.find(ch * n, i + n)
            while close != -1 and close + n < len(text) and text[close + n] == "`":
                close = text.find(ch * n, close + n + 1)
            if close == -1:
                stack.append(("`", n))
                return
            i = close + n
            continue
        if ch in _DELIMS:
            prev = text[i - 1] if i else " "
            nxt = text[i + n] if i + n < len(text) else " "
            opens, closes = not nxt.isspace(), not prev.isspace()
            if ch == "_" and prev.isalnum() and nxt.isalnum():
                opens = closes = False
            if ch == "~" and n < 2:
                opens = closes = False
            if closes and stack and stack[-1][0] == ch:
                stack.pop()
            elif opens:
                stack.append((ch, n))
        i += n


def _literal_delims(text: str) -> int:
    """Emphasis characters the parser left as literal text (fewer is better)."""
    count = 0
    for tok in parse_tokens(text):
        for child in tok.children or []:
            if child.type == "text":
                count += sum(child.content.count(ch) for ch in _DELIMS)
    return count
