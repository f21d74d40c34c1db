"""Slack's own `<…>` tokens and the per-target escaping of `&`, `<`, `>` around them.

Escaping decisions (evidence in the report):

* mrkdwn (section/context text, top-level `text`): Slack's formatting docs require `&`, `<`, `>`
  to be sent as `&amp;`, `&lt;`, `&gt;` everywhere except in deliberate tokens. Always escaped.
* `markdown` blocks: Slack still parses its `<…>` tokens inside them (a raw `<!here>` becomes a
  live mention; PostHog/posthog#95054, measured on a real workspace), and `&lt;`/`&gt;` render
  back as the literal characters. So a stray `<`/`>` in prose is escaped (otherwise
  `a < b & c > d` can be eaten as a token). `&` is escaped only where it would start an entity
  (`&lt;` typed literally) — a bare `&` is shown as-is by every parser, and `&amp;` is *not*
  decoded inside link destinations (same source), so URLs are never touched.
  Code spans and fences are left raw: in CommonMark entities are literal inside code, so
  escaping there would show `&lt;` to the reader. Unverified for Slack; raw is the option
  that cannot corrupt code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

# <@U123>, <@U123|name>, <#C123>, <#C123|general>, <!here>, <!channel>, <!everyone>,
# <!subteam^S123|@team>, <!date^1392734382^{date}|fallback>, <https://x|label>, <mailto:a@b>.
SLACK_TOKEN_RE = re.compile(
    r"<(?:"
    r"[@#][A-Z0-9]+(?:\|[^<>\n]*)?"
    r"|!(?:here|channel|everyone)(?:\|[^<>\n]*)?"
    r"|!subteam\^[A-Z0-9]+(?:\|[^<>\n]*)?"
    r"|!date\^[^<>\n|]+(?:\|[^<>\n]*)?"
    r"|(?:https?|mailto|tel):[^<>\s|]+(?:\|[^<>\n]*)?"
    r")>"
)

# `&` that would start an HTML entity (`&lt;`, `&#60;`, `&copy;`): the only `&` worth escaping
# in a markdown block.
_ENTITY_START_RE = re.compile(
    r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)"
)

ZWSP = "\u200b"

# A line starting like this would begin a heading, list, fence, rule, setext underline, table or
# quote. Paragraph text can only start a line like that where the model's indentation or a
# cut made it text, so such a line gets an invisible zero-width space in front.
_UNSAFE_LINE_START = re.compile(
    r"^(?=#{1,6}(?:[ \t]|$)|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|`{3,}|~{3,}"
    r"|[-*_]{3,}[ \t]*$|[=-]+[ \t]*$|\||>)",
    re.M,
)
_PUA_FIRST, _PUA_LAST = 0xE000, 0xF8FF


def escape_markdown_text(text: str) -> str:
    """Escape prose for a `markdown` block: `<`, `>` always, `&` only where it starts an entity."""
    text = _ENTITY_START_RE.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn(text: str) -> str:
    """Escape text for mrkdwn (no tokens inside): `&`, `<`, `>` → entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn_keep_tokens(text: str) -> str:
    """Escape mrkdwn text that may contain Slack tokens, leaving the tokens untouched."""
    out: list[str] = []
    pos = 0
    for m in SLACK_TOKEN_RE.finditer(text):
        out.append(escape_mrkdwn(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(escape_mrkdwn(text[pos:]))
    return "".join(out)


def guard_line_starts(text: str, *, first_line: bool = False) -> str:
    """Put a zero-width space before every line (after the first) that looks like block syntax."""
    guarded = _UNSAFE_LINE_START.sub(ZWSP, text)
    if first_line or not guarded.startswith(ZWSP) or text.startswith(ZWSP):
        return guarded
    return guarded[1:]


def strip_invisible(text: str) -> str:
    """Remove the zero-width spaces this package inserts (for plain-text output)."""
    return text.replace(ZWSP, "")


@dataclass
class TokenShield:
    """Swaps Slack tokens for private-use characters so the Markdown parser cannot touch them.

    `<https://x|y>` would otherwise parse as an autolink to `https://x%7Cy` and `<@U1>` as text
    that later gets escaped; a single placeholder character is inert for CommonMark (neither
    punctuation nor whitespace) and is swapped back verbatim on output.
    """

    tokens: dict[str, str] = field(default_factory=dict)

    def protect(self, text: str) -> str:
        """Return `text` with every Slack token replaced by a placeholder character."""
        used = {ch for ch in text if _PUA_FIRST <= ord(ch) <= _PUA_LAST}
        code = _PUA_FIRST
        out: list[str] = []
        pos = 0
        for m in SLACK_TOKEN_RE.finditer(text):
            while code <= _PUA_LAST and chr(code) in used:
                code += 1
            if code > _PUA_LAST:
                break  # absurdly many tokens: the rest stay unprotected (still escaped safely)
            placeholder = chr(code)
            code += 1
            self.tokens[placeholder] = m.group(0)
            out.append(text[pos : m.start()])
            out.append(placeholder)
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)

    def restore(self, text: str) -> str:
        """Put the original tokens back."""
        if not self.tokens:
            return text
        return "".join(self.tokens.get(ch, ch) for ch in text)

    def restore_url(self, href: str) -> str:
        """Restore a link destination the parser percent-encoded.

        `[t](<https://e.io/a)b>)` is CommonMark's angle-bracket destination: the shield took
        `<https://…>` for a Slack token, so put it back and drop the brackets.
        """
        for placeholder, token in self.tokens.items():
            encoded = quote(placeholder)
            if encoded in href or placeholder in href:
                url = token[1:-1].split("|", 1)[0]
                href = href.replace(encoded, url).replace(placeholder, url)
        return href

    def split_tokens(self, text: str) -> list[tuple[bool, str]]:
        """Split protected text into (is_token, original text) runs."""
        runs: list[tuple[bool, str]] = []
        buf: list[str] = []
        for ch in text:
            token = self.tokens.get(ch)
            if token is None:
                buf.append(ch)
                continue
            if buf:
                runs.append((False, "".join(buf)))
                buf = []
            runs.append((True, token))
        if buf:
            runs.append((False, "".join(buf)))
        return runs
