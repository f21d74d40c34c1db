"""Text to safe HTML the way Slack shows it: `mrkdwn`, standard Markdown, and mentions."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import emoji as emoji_lib
from markdown_it import MarkdownIt

Names = Callable[[str], str]
"""Looks up the display name of a user or channel id."""

_ENTITY = re.compile(r"<([^<>\n]+)>")
_FENCE = re.compile(r"```\n?(.*?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)
_MENTION_IN_MD = re.compile(r"&lt;([@#!][A-Za-z0-9^|._-]+)&gt;")
_PLACEHOLDER = "\x00{}\x00"
_SLOT = re.compile("\x00(\\d+)\x00")



def emoji(name: str) -> str:
    """The character for a Slack emoji name (Slack's aliases), or `:name:` when unknown."""
    return emoji_lib.emojize(f":{name}:", language="alias")


def _entity(inner: str, names: Names) -> str:
    """HTML for one `<…>` entity: user, channel, special mention or link."""
    target, _, label = inner.partition("|")
    target = html.unescape(target)
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(names(target[1:]))}</span>'
    if target.startswith("#"):
        shown = html.unescape(label) if label else names(target[1:])
        return f'<span class="mention">#{html.escape(shown)}</span>'
    if target.startswith("!"):
        shown = html.unescape(label) if label else target[1:].split("^")[0]
        return f'<span class="mention">@{html.escape(shown)}</span>'
    if not _SAFE_URL.match(target):
        return html.escape(html.unescape(f"<{inner}>"))
    shown = html.unescape(label) if label else target
    return link(target, shown)


def link(url: str, shown: str) -> str:
    """An external link opened in a new tab (only http(s) and mailto URLs)."""
    if not _SAFE_URL.match(url):
        return html.escape(shown)
    return (f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
            f"{html.escape(shown)}</a>")


def mrkdwn(text: str, names: Names) -> str:
    """Slack `mrkdwn` (already &-escaped as Slack sends it) as HTML."""
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return _PLACEHOLDER.format(len(slots) - 1)

    text = _FENCE.sub(lambda m: keep(f"<pre>{html.escape(html.unescape(m[1]))}</pre>"), text)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(html.unescape(m[1]))}</code>"), text)
    text = _ENTITY.sub(lambda m: keep(_entity(m[1], names)), text)
    text = html.escape(html.unescape(text), quote=False)
    text = _BOLD.sub(r"<b>\1</b>", text)
    text = _ITALIC.sub(r"<i>\1</i>", text)
    text = _STRIKE.sub(r"<s>\1</s>", text)
    text = re.sub(r":([a-z0-9_+-]+):", lambda m: html.escape(emoji(m[1])), text)
    lines = []
    for line in text.split("\n"):
        if line.startswith("&gt; ") or line == "&gt;":
            line = f'<span class="quote">{line[5:]}</span>'
        lines.append(line)
    text = "<br>".join(lines)
    return _SLOT.sub(lambda m: slots[int(m[1])], text)


def plain(text: str) -> str:
    """plain_text as HTML (escaped, line breaks kept)."""
    return html.escape(text).replace("\n", "<br>")


def _markdown_parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text."""
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    parser.enable(["table", "strikethrough"])
    default_open = parser.renderer.rules.get("link_open")

    def link_open(tokens, idx, options, env):  # type: ignore[no-untyped-def]
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer")
        if default_open is not None:
            return default_open(tokens, idx, options, env)
        return parser.renderer.renderToken(tokens, idx, options, env)

    parser.renderer.rules["link_open"] = link_open
    return parser


_MD = _markdown_parser()


def markdown(text: str, names: Names) -> str:
    """Standard Markdown (a `markdown` block or a native stream) as HTML; mentions resolved."""
    rendered = _MD.render(text)
    return _MENTION_IN_MD.sub(lambda m: _entity(m[1], names), rendered)
