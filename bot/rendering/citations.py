"""Turns `url_citation` annotations into numbered markers and a "Sources" list (pure text)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlsplit

SOURCES_HEADING = "Sources:"

# Spans a marker must not be inserted into: it moves to their end.
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\((?:[^()\s]|\([^()\s]*\))*"
                   r"(?:\s+\"[^\"\n]*\")?\)")
_ANGLE = re.compile(r"<[^<>\s][^<>\n]*>")
_BARE_URL = re.compile(r"(?:https?|ftp)://[^\s<>]+")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_EMPHASIS = "*_~"


class Cited(Protocol):
    """What a url_citation annotation carries (bot.gemini.Citation satisfies it)."""

    url: str
    title: str | None
    start_index: int | None
    end_index: int | None


@dataclass(frozen=True, slots=True)
class Source:
    """One entry of the Sources list."""

    number: int
    url: str
    label: str


def apply_citations(text: str, citations: Sequence[Cited]) -> tuple[str, str]:
    """Return (text with `[n]` markers at the cited spans, "Sources" Markdown or "")."""
    usable = [c for c in citations if _safe_url(c.url)]
    if not usable:
        return text, ""
    to_char = _offset_reader(text, [_int(c.start_index) for c in usable],
                             [_int(c.end_index) for c in usable])
    spans = _Protected(text)
    first_use: dict[str, float] = {}
    labels: dict[str, str] = {}
    placed: list[tuple[int, str]] = []
    for order, cite in enumerate(usable):
        url = _clean_url(cite.url)
        labels.setdefault(url, _label(cite.title, url))
        pos = _marker_position(cite, len(text), to_char, spans)
        if pos is not None:
            placed.append((pos, url))
        key = float(pos) if pos is not None else len(text) + 1 + order / (len(usable) + 1)
        first_use[url] = min(first_use.get(url, key), key)
    ordered = sorted(first_use, key=lambda u: first_use[u])
    numbers = {url: i for i, url in enumerate(ordered, start=1)}
    sources = [Source(numbers[u], u, labels[u]) for u in ordered]
    url_ends = {end for _, end in spans.bare_urls}
    return _insert_markers(text, placed, numbers, url_ends), sources_markdown(sources)


def sources_markdown(sources: Sequence[Source]) -> str:
    """The "Sources:" section: a numbered list of `[title or domain](url)` links."""
    if not sources:
        return ""
    lines = [f"{s.number}. [{s.label}]({s.url})" for s in sources]
    return SOURCES_HEADING + "\n\n" + "\n".join(lines)


# -- offsets ------------------------------------------------------------------------------------
def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _offset_reader(text: str, starts_at: list[int | None],
                   ends_at: list[int | None]) -> Callable[[int], int | None]:
    """Map an annotation offset to a character index, guessing the (undocumented) unit.

    Offsets are read as UTF-8 byte offsets when the text is not ASCII and bytes explain them
    better: more of them fit (within the byte length, on a character boundary) or, when both
    fit equally, more spans start and end at whitespace or the text's edges. Gemini's older
    grounding metadata counts bytes, which breaks remaining ties.
    """
    data = text.encode("utf-8")
    if len(data) == len(text):
        return lambda o: o if 0 <= o <= len(text) else None
    char_at = [0]  # byte offset where each character starts (and the total length)
    for ch in text:
        char_at.append(char_at[-1] + len(ch.encode("utf-8")))
    boundary = set(char_at)

    def as_bytes(o: int) -> int | None:
        # A byte offset inside a character rounds up to the next character.
        return bisect.bisect_left(char_at, o) if 0 <= o <= len(data) else None

    def as_chars(o: int) -> int | None:
        return o if 0 <= o <= len(text) else None

    starts = [o for o in starts_at if o is not None]
    ends = [o for o in ends_at if o is not None]
    fit_b = sum(o in boundary for o in starts + ends)
    fit_c = sum(as_chars(o) is not None for o in starts + ends)
    if fit_b != fit_c:
        return as_bytes if fit_b > fit_c else as_chars

    def natural(read: Callable[[int], int | None]) -> int:
        score = 0
        for o in starts:
            pos = read(o)
            score += pos is not None and (pos == 0 or text[pos - 1].isspace())
        for o in ends:
            pos = read(o)
            score += pos is not None and (pos == len(text) or text[pos].isspace())
        return score

    return as_chars if natural(as_chars) > natural(as_bytes) else as_bytes


def _marker_position(cite: Cited, length: int, to_char: Callable[[int], int | None],
                     spans: _Protected) -> int | None:
    """Where the marker for one citation goes, or None when its offsets make no sense."""
    end_raw, start_raw = _int(cite.end_index), _int(cite.start_index)
    if end_raw is None or end_raw < 0:
        return None
    end = to_char(end_raw)
    if end is None:
        end = length if end_raw > length else None  # beyond the text: cite at its end
    if end is None:
        return None
    if start_raw is not None:
        start = to_char(start_raw) if start_raw >= 0 else None
        if start is None or start > end:
            return None
    return spans.safe(end)


# -- safe insertion points ----------------------------------------------------------------------
class _Protected:
    """Knows the constructs of a Markdown text that a marker must not split."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fences = _fenced_blocks(text)
        inline: list[tuple[int, int]] = []
        for rx in (_INLINE_CODE, _LINK, _ANGLE):
            inline.extend(m.span() for m in rx.finditer(text))
        self.bare_urls = [m.span() for m in _BARE_URL.finditer(text)
                          if not any(s <= m.start() < e for s, e in inline)]
        self.inline = sorted(inline + self.bare_urls)

    def safe(self, pos: int) -> int | None:
        """The first position at or after `pos` (or before a code block) that splits nothing."""
        text = self.text
        while pos > 0 and text[pos - 1].isspace():
            pos -= 1
        for _ in range(8):  # each step moves forward; a few rounds settle every case seen
            moved = pos
            for start, end in self.fences:
                if start < pos <= end:
                    return self._before(start)
            for start, end in self.inline:
                if start < pos < end:
                    moved = max(moved, end)
            while moved < len(text) and moved > 0 and text[moved - 1].isalnum() \
                    and text[moved].isalnum():
                moved += 1
            while moved < len(text) and text[moved] in _EMPHASIS and moved > 0 \
                    and not text[moved - 1].isspace():
                moved += 1
            if moved == pos:
                break
            pos = moved
        return self._outside_table_edge(pos)

    def _before(self, start: int) -> int | None:
        pos = start
        while pos > 0 and self.text[pos - 1].isspace():
            pos -= 1
        return self.safe(pos) if pos > 0 else None

    def _outside_table_edge(self, pos: int) -> int:
        """A marker after a table row's closing `|` would break the row: put it in the cell."""
        text = self.text
        line_start = text.rfind("\n", 0, pos) + 1
        if text[line_start:pos].lstrip().startswith("|") and text[:pos].endswith("|"):
            pos -= 1
            while pos > line_start and text[pos - 1] == " ":
                pos -= 1
        return pos


def _fenced_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, fences included (unclosed: to the end)."""
    blocks: list[tuple[int, int]] = []
    offset = 0
    opener: tuple[str, int] | None = None
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if opener is None and m:
            opener = (m.group(1), offset)
        elif opener is not None and m and m.group(1)[0] == opener[0][0] \
                and len(m.group(1)) >= len(opener[0]) and not line[m.end():].strip():
            blocks.append((opener[1], offset + len(line.rstrip("\r\n"))))
            opener = None
        offset += len(line)
    if opener is not None:
        blocks.append((opener[1], len(text)))
    return blocks


def _insert_markers(text: str, placed: list[tuple[int, str]], numbers: dict[str, int],
                    url_ends: set[int]) -> str:
    """Insert `[n]` markers; several at one point are sorted and deduplicated."""
    at: dict[int, set[int]] = {}
    for pos, url in placed:
        at.setdefault(pos, set()).add(numbers[url])
    out: list[str] = []
    last = 0
    for pos in sorted(at):
        out.append(text[last:pos])
        marker = "".join(f"[{n}]" for n in sorted(at[pos]))
        if pos in url_ends:
            marker = " " + marker  # glued to a bare URL it would become part of the link
        if text[pos:pos + 1] == "(":
            marker += " "  # `[1](…)` would read as a link
        out.append(marker)
        last = pos
    out.append(text[last:])
    return "".join(out)


# -- labels and URLs ----------------------------------------------------------------------------
def _safe_url(url: object) -> bool:
    return isinstance(url, str) and urlsplit(url.strip()).scheme in ("http", "https") \
        and bool(urlsplit(url.strip()).netloc)


def _clean_url(url: str) -> str:
    """The URL with characters that would end a Markdown link destination escaped."""
    return quote(url.strip(), safe=":/?#[]@!$&'*+,;=%~-._")


def _label(title: str | None, url: str) -> str:
    """The link text: the title, else the domain; on one line, bounded, brackets escaped."""
    host = (urlsplit(url).hostname or url).removeprefix("www.")
    label = " ".join((title or "").split()) or host
    if len(label) > 120:
        label = label[:119].rstrip() + "…"
    return re.sub(r"([\[\]\\])", r"\\\1", label)
