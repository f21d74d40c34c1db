"""Block tree → standard Markdown for Slack `markdown` blocks, and splitting into bounded chunks.

Chunks always end at a boundary that keeps the Markdown valid: between blocks, between list
items, between code lines (each piece re-opened with the same language tag), or between words
of a paragraph (never inside a link, code span or Slack token; open emphasis is closed and
re-opened). Only a single word/line longer than a whole message is ever cut mid-text.
"""

from __future__ import annotations

import re

from bot.rendering.inline import Atom, atoms_size, code_span, inline_atoms, join_atoms
from bot.rendering.slack_text import TokenShield, guard_line_starts
from bot.rendering.tables import monospace
from bot.rendering.tree import Node
from bot.rendering.types import slack_len

_MIN_BUDGET = 40


def serialize(node: Node, shield: TokenShield) -> str:
    """The whole node as Markdown."""
    kind = node.kind
    if kind == "paragraph":
        return guard_line_starts(join_atoms(inline_atoms(node.inline, shield, "markdown")),
                                 first_line=True)
    if kind == "heading":
        return "#" * node.level + " " + join_atoms(inline_atoms(node.inline, shield, "markdown"))
    if kind == "fence":
        return fence(shield.restore(node.info), shield.restore(node.content))
    if kind == "table" and node.table is not None:
        return fence("", monospace(node.table, shield) + "\n")
    if kind == "hr":
        return "---"
    if kind == "list":
        sep = "\n" if node.tight else "\n\n"
        items = enumerate(node.children)
        return sep.join(_item(item, _marker(node, n), shield) for n, item in items)
    if kind == "blockquote":
        return _prefix("\n\n".join(serialize(c, shield) for c in node.children), "> ", "> ")
    return "\n\n".join(serialize(c, shield) for c in node.children)


def fence(info: str, content: str) -> str:
    """A fenced code block whose fence cannot collide with the content."""
    if content and not content.endswith("\n"):
        content += "\n"
    char = "~" if "`" in info else "`"
    runs = re.findall(rf"^[ ]{{0,3}}({re.escape(char)}{{3,}})", content, flags=re.M)
    width = max([3, *(len(r) + 1 for r in runs)])
    return f"{char * width}{info}\n{content}{char * width}"


def chunk(node: Node, shield: TokenShield, first: int, rest: int) -> list[str]:
    """Markdown chunks of `node`: chunk 0 ≤ `first` ("" if nothing fits), the rest ≤ `rest`."""
    text = serialize(node, shield)
    if slack_len(text) <= first:
        return [text]
    kind = node.kind
    if kind in ("paragraph", "heading"):
        head = "#" * node.level + " " if kind == "heading" else ""
        return split_atoms(inline_atoms(node.inline, shield, "markdown"), first, rest, head)
    if kind == "fence":
        return split_fence(shield.restore(node.info), shield.restore(node.content), first, rest)
    if kind == "table" and node.table is not None:
        return split_fence("", monospace(node.table, shield) + "\n", first, rest)
    if kind == "list":
        sep = "\n" if node.tight else "\n\n"
        pieces: list[str] = []
        for n, item in enumerate(node.children):
            marker = _marker(node, n)
            body = _item(item, marker, shield)
            if slack_len(body) <= rest:
                pieces.append(body)
            else:
                pieces.extend(p for p in _container(item.children, _sep(item), shield, rest, rest,
                                                    (marker + " ", " " * (len(marker) + 1)),
                                                    every_chunk=False) if p)
        return group(pieces, sep, first, rest)
    if kind == "blockquote":
        quote = ("> ", "> ")
        return _container(node.children, "\n\n", shield, first, rest, quote, every_chunk=True)
    return hard_split(text, first, rest)


def group(pieces: list[str], sep: str, first: int, rest: int) -> list[str]:
    """Greedily join pieces with `sep`; chunk 0 ≤ `first` ("" if the first piece exceeds it)."""
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    limit = first
    for piece in pieces:
        added = slack_len(piece) + (len(sep) if cur else 0)
        if size + added <= limit:
            cur.append(piece)
            size += added
            continue
        chunks.append(sep.join(cur))
        limit = rest
        cur, size = [piece], slack_len(piece)
    chunks.append(sep.join(cur))
    return chunks


def split_fence(info: str, content: str, first: int, rest: int) -> list[str]:
    """Split a code block at line boundaries, re-opening each piece with the same info string."""
    sample = fence(info, content)
    marker = sample[: len(sample) - len(sample.lstrip(sample[0]))]
    overhead = slack_len(marker) * 2 + slack_len(info) + 1
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    limit = max(first - overhead, 0)
    for line in content.splitlines(keepends=True):
        for part in _cut(line, max(rest - overhead - 1, _MIN_BUDGET)):  # -1: the added "\n"
            piece = part if part.endswith("\n") else part + "\n"
            if size + slack_len(piece) > limit and (cur or not chunks):
                chunks.append(f"{marker}{info}\n{''.join(cur)}{marker}" if cur else "")
                cur, size, limit = [], 0, rest - overhead
            cur.append(piece)
            size += slack_len(piece)
    if cur:
        chunks.append(f"{marker}{info}\n{''.join(cur)}{marker}")
    return chunks or [fence(info, "")]


def split_atoms(atoms: list[Atom], first: int, rest: int, head: str = "") -> list[str]:
    """Split a paragraph's atoms at spaces, closing and re-opening emphasis across the cut."""
    chunks: list[str] = []
    cur: list[Atom] = []
    size = 0  # atoms_size(cur), kept incrementally
    stack: list[str] = []
    limit = first - slack_len(head)
    for grp in _word_groups(atoms):
        after = _apply(stack, grp)
        grp_size = atoms_size(grp)
        if size + grp_size + _close_size(after) <= limit:
            cur.extend(grp)
            size += grp_size
            stack = after
            continue
        if _has_words(cur):
            chunks.append(_finish(cur + _closers(stack), head))
            head = ""
        elif not chunks:
            chunks.append("")  # nothing fits in the first budget
        limit = rest - slack_len(head) - 1  # room for the zero-width line-start guard
        body = _drop_leading_space(grp)
        cur = [Atom(m, "open", m) for m in stack]
        size = atoms_size(cur)
        after = _apply(stack, body)
        if size + atoms_size(body) + _close_size(after) > limit:
            # One unbreakable word longer than a whole message (absurd input): cut it.
            room = max(limit - size - _close_size(after), _MIN_BUDGET)
            if len(body) == 1 and body[0].kind == "code":  # keep every piece a whole code span
                fence = len(body[0].text) - len(body[0].text.lstrip("`")) + 1
                parts = [code_span(p) for p in _cut(body[0].raw, max(room - 2 * fence, 1))]
            else:
                parts = _cut(join_atoms(body), room)
            for part in parts[:-1]:
                chunks.append(_finish([*cur, Atom(part, "word"), *_closers(stack)], head))
                head = ""
            body, after = [Atom(parts[-1], "word")], stack
        cur.extend(body)
        size += atoms_size(body)
        stack = after
    if _has_words(cur) or not chunks:
        chunks.append(_finish(cur + _closers(stack), head))
    return chunks


def hard_split(text: str, first: int, rest: int) -> list[str]:
    """Last resort: cut plain text at newlines (or anywhere) into ≤ budget pieces."""
    chunks: list[str] = []
    limit = first
    cur = ""
    for line in text.splitlines(keepends=True):
        for part in _cut(line, max(rest, _MIN_BUDGET)):
            if cur and slack_len(cur + part) > limit:
                chunks.append(cur.rstrip("\n"))
                cur, limit = "", rest
            elif not cur and not chunks and slack_len(part) > limit:
                chunks.append("")
                limit = rest
            cur += part
    chunks.append(cur.rstrip("\n"))
    return chunks


# -- helpers ---------------------------------------------------------------------------------------
def _sep(node: Node) -> str:
    return "\n" if node.tight else "\n\n"


def _marker(lst: Node, index: int) -> str:
    if not lst.ordered:
        return lst.markup or "-"
    item = lst.children[index]
    number = item.number or lst.start + index
    return f"{number}{lst.markup or '.'}"


def _item(item: Node, marker: str, shield: TokenShield) -> str:
    body = _sep(item).join(serialize(c, shield) for c in item.children)
    if not body:
        return marker
    return _prefix(body, marker + " ", " " * (len(marker) + 1))


def _prefix(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    out = [first + lines[0]]
    blank = rest.rstrip()
    out.extend(rest + line if line else blank for line in lines[1:])
    return "\n".join(out)


def _container(children: list[Node], sep: str, shield: TokenShield, first: int, rest: int,
               prefixes: tuple[str, str], *, every_chunk: bool) -> list[str]:
    """Chunk a container's children, then prefix them (quote `> ` / list-item indentation).

    The prefix adds characters per line, so the inner budget shrinks until every prefixed
    chunk fits. A list item's later chunks are not indented (they would turn into code).
    """
    inner_first, inner_rest = first - len(prefixes[0]), rest - len(prefixes[0])
    for _ in range(30):
        pieces: list[str] = []
        for child in children:
            pieces.extend(p for p in chunk(child, shield, inner_rest, inner_rest) if p)
        groups = group(pieces, sep, max(inner_first, 0), inner_rest)
        wrapped = [g if not g or (i and not every_chunk) else _prefix(g, *prefixes)
                   for i, g in enumerate(groups)]
        if all(slack_len(w) <= (first if i == 0 else rest) for i, w in enumerate(wrapped)):
            return wrapped
        inner_first = int(inner_first * 0.85)
        inner_rest = max(int(inner_rest * 0.85), _MIN_BUDGET)
    return hard_split(_prefix(sep.join(pieces), *prefixes), first, rest)


def _word_groups(atoms: list[Atom]) -> list[list[Atom]]:
    groups: list[list[Atom]] = []
    for atom in atoms:
        if not groups or (atom.kind == "space" and groups[-1][-1].kind != "space"):
            groups.append([atom])
        else:
            groups[-1].append(atom)
    return groups


def _has_words(atoms: list[Atom]) -> bool:
    return any(a.kind not in ("open", "space") for a in atoms)


def _drop_leading_space(grp: list[Atom]) -> list[Atom]:
    i = 0
    while i < len(grp) - 1 and grp[i].kind == "space":
        i += 1
    return grp[i:]


def _apply(stack: list[str], atoms: list[Atom]) -> list[str]:
    out = list(stack)
    for atom in atoms:
        if atom.kind == "open":
            out.append(atom.marker)
        elif atom.kind == "close" and out:
            out.pop()
    return out


def _closers(stack: list[str]) -> list[Atom]:
    return [Atom(m, "close", m) for m in reversed(stack)]


def _close_size(stack: list[str]) -> int:
    return sum(len(m) + 2 for m in stack)


def _finish(atoms: list[Atom], head: str) -> str:
    """Join a chunk's atoms; guard its line starts (the heading prefix, if any, goes first)."""
    text = join_atoms(atoms).strip()
    return head + guard_line_starts(text, first_line=not head)


def _cut(text: str, size: int) -> list[str]:
    """Cut `text` into pieces of ≤ `size`, preferring to end a piece after whitespace."""
    parts: list[str] = []
    while slack_len(text) > size:
        end = used = 0
        while end < len(text) and used + slack_len(text[end]) <= size:
            used += slack_len(text[end])
            end += 1
        space = max(text.rfind(" ", 0, end), text.rfind("\t", 0, end))
        if space >= end // 2:
            end = space + 1
        parts.append(text[:end])
        text = text[end:]
    parts.append(text)
    return parts
