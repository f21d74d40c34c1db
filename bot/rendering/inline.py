"""Inline tokens → atoms for three targets: `markdown` blocks, mrkdwn and plain text.

An atom is an unbreakable piece (a word, a whole link, a code span, an emphasis marker) or a
space. Long paragraphs are split only at space atoms, so a link or a Slack token is never cut,
and emphasis still open at a cut is closed and re-opened on the other side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from markdown_it.token import Token

from bot.rendering.slack_text import (
    ZWSP,
    TokenShield,
    escape_markdown_text,
    escape_mrkdwn,
    guard_line_starts,
)
from bot.rendering.types import slack_len

Flavor = Literal["markdown", "mrkdwn", "plain"]

_MARKERS: dict[Flavor, dict[str, str]] = {
    "markdown": {"strong": "**", "em": "*", "s": "~~"},
    "mrkdwn": {"strong": "*", "em": "_", "s": "~"},
    "plain": {"strong": "", "em": "", "s": ""},
}
_SPACE_RE = re.compile(r"(\s+)")
_URL_UNSAFE_MRKDWN = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20"}


@dataclass
class Atom:
    """One piece of inline output; `kind` says how it may be split and bounded."""

    text: str
    kind: Literal["word", "space", "open", "close", "code"]
    marker: str = ""
    raw: str = ""  # code span content, so an over-long span can be re-split into spans


def inline_atoms(tokens: list[Token], shield: TokenShield, flavor: Flavor) -> list[Atom]:
    """Atoms for an inline token list in the given output flavor."""
    atoms: list[Atom] = []
    markers = _MARKERS[flavor]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "text":
            atoms.extend(_text_atoms(tok.content, shield, flavor))
        elif kind == "text_special":
            if flavor == "markdown" and tok.info == "escape":
                atoms.append(Atom(shield.restore(tok.markup), "word"))
            else:
                atoms.extend(_text_atoms(tok.content, shield, flavor))
        elif kind in ("softbreak", "hardbreak"):
            atoms.append(Atom("\n", "space"))
        elif kind == "code_inline":
            raw = shield.restore(tok.content)
            atoms.append(Atom(_code_span(raw, flavor), "code", raw=raw))
        elif kind.endswith("_open") and kind[:-5] in markers:
            marker = markers[kind[:-5]]
            if marker:
                atoms.append(Atom(marker, "open", marker))
        elif kind.endswith("_close") and kind[:-6] in markers:
            marker = markers[kind[:-6]]
            if marker:
                atoms.append(Atom(marker, "close", marker))
        elif kind == "link_open":
            end = _link_end(tokens, i)
            label = tokens[i + 1 : end]
            atoms.append(Atom(_link(label, str(tok.attrs.get("href", "")), tok, shield, flavor),
                              "word"))
            i = end
        elif kind == "image":
            alt = list(tok.children or [])
            atoms.append(Atom(_link(alt, str(tok.attrs.get("src", "")), tok, shield, flavor),
                              "word"))
        i += 1
    return atoms


def render_inline(tokens: list[Token], shield: TokenShield, flavor: Flavor) -> str:
    """Inline tokens rendered to one string in the given flavor."""
    return join_atoms(inline_atoms(tokens, shield, flavor), bound=flavor != "plain")


def join_atoms(atoms: list[Atom], *, bound: bool = True) -> str:
    """Concatenate atoms; with `bound`, add a zero-width space where a marker touches a letter.

    Slack only recognises `**`/`*`/`~~`/`` ` `` at a word boundary, so `これは**重要**です`
    shows raw asterisks; `これは\u200b**重要**\u200bです` renders bold (slack-markdown-parser's
    Slack Web matrix, 2026-03). CommonMark parses both the same way (ZWSP is not whitespace).
    """
    out: list[str] = []
    last = ""
    pending = False
    for atom in atoms:
        text = atom.text
        if not text:
            continue
        if bound and atom.kind in ("open", "code") and last.isalnum():
            out.append(ZWSP)
        elif bound and pending and text[0].isalnum():
            out.append(ZWSP)
        out.append(text)
        last = text[-1]
        pending = atom.kind in ("close", "code")
    joined = "".join(out)
    return guard_line_starts(joined) if bound and "\n" in joined else joined


def atoms_size(atoms: list[Atom]) -> int:
    """Upper bound of the joined length: bounded atoms may gain two zero-width spaces, and
    every line break one (the line-start guard)."""
    total = 0
    for a in atoms:
        total += slack_len(a.text)
        if a.kind in ("open", "close", "code"):
            total += 2
        elif a.kind == "space":
            total += a.text.count("\n")
    return total


def _text_atoms(content: str, shield: TokenShield, flavor: Flavor) -> list[Atom]:
    atoms: list[Atom] = []
    for part in _SPACE_RE.split(content):
        if not part:
            continue
        if part.isspace():
            atoms.append(Atom(part, "space"))
        else:
            atoms.append(Atom(_escape_word(part, shield, flavor), "word"))
    return atoms


def _escape_word(word: str, shield: TokenShield, flavor: Flavor) -> str:
    if flavor == "plain":
        return shield.restore(word)
    escape = escape_markdown_text if flavor == "markdown" else escape_mrkdwn
    return "".join(tok if is_token else escape(tok) for is_token, tok in shield.split_tokens(word))


def code_span(content: str, flavor: Flavor = "markdown") -> str:
    """`content` as an inline code span for `flavor`."""
    return _code_span(content, flavor)


def _code_span(content: str, flavor: Flavor) -> str:
    if flavor == "plain":
        return content
    if flavor == "mrkdwn":
        return f"`{escape_mrkdwn(content.replace('`', 'ˋ'))}`"
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    if content.startswith(" ") and content.endswith(" ") and content.strip():
        pad = " "
    return f"{fence}{pad}{content}{pad}{fence}"


def _link_end(tokens: list[Token], start: int) -> int:
    depth = 0
    for j in range(start, len(tokens)):
        if tokens[j].type == "link_open":
            depth += 1
        elif tokens[j].type == "link_close":
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def _link(label: list[Token], href: str, tok: Token, shield: TokenShield, flavor: Flavor) -> str:
    href = shield.restore_url(href)
    plain_label = render_inline(label, shield, "plain").strip()
    if flavor == "plain":
        if not plain_label or plain_label == href or href == f"mailto:{plain_label}":
            return href
        return f"{plain_label} ({href})"
    if flavor == "mrkdwn":
        url = "".join(_URL_UNSAFE_MRKDWN.get(ch, ch) for ch in href)
        if not plain_label or plain_label == href:
            return f"<{url}>"
        return f"<{url}|{escape_mrkdwn(plain_label)}>"
    text = join_atoms(inline_atoms(label, shield, "markdown")) or escape_markdown_text(href)
    title = str(tok.attrs.get("title", "") or "")
    title_part = ' "' + title.replace('"', '\\"') + '"' if title else ""
    return f"[{text}]({_destination(href)}{title_part})"


def _destination(href: str) -> str:
    """Link destination for a markdown block.

    Kept as the model wrote it when parentheses balance (`.../Foo_(bar)` is valid CommonMark);
    otherwise the parentheses are percent-encoded so the link cannot end early. Spaces and
    angle brackets are already percent-encoded by the parser's link normaliser.
    """
    depth = 0
    balanced = True
    for ch in href:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                balanced = False
                break
    if balanced and depth == 0:
        return quote(href, safe="/:?#[]@!$&'()*+,;=%~-._")
    return quote(href, safe="/:?#[]@!$&'*+,;=%~-._")
