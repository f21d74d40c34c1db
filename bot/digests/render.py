"""A digest as Block Kit: header, context, one section per part, permalinks and mentions."""

from __future__ import annotations

import re
from typing import Any

from bot.digests.schema import MAX_SOURCES, ActionItem, Digest, Sourced

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_BLOCKS = 50
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


def escape(text: str) -> str:
    """Model text made safe for mrkdwn (only `&`, `<`, `>` are special), mentions kept."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"&lt;@([UW][A-Z0-9]+)&gt;", r"<@\1>", safe)


def mention(owner: str | None) -> str:
    """`<@U…>` for a user id (Slack shows the name), the escaped text otherwise."""
    if not owner:
        return ""
    owner = owner.strip()
    if (full := _MENTION.fullmatch(owner)) is not None:
        owner = full[1]
    return f"<@{owner}>" if _USER_ID.match(owner) else escape(owner)


def _sources(item: Sourced, links: dict[str, str]) -> str:
    found = [links[ts] for ts in item.sources[:MAX_SOURCES] if ts in links]
    if not found:
        return ""
    return " " + " ".join(f"<{url}|[{i}]>" for i, url in enumerate(found, 1))


def _action(item: ActionItem) -> str:
    line = escape(item.task)
    who = mention(item.owner)
    if who:
        line += f" — {who}"
    if item.due:
        line += f" (due {escape(item.due)})"
    return line


def digest_lines(digest: Digest, links: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(heading, bullet lines) for each non-empty part of the digest."""
    parts: list[tuple[str, list[str]]] = [
        (":speech_balloon: Topics", [f"*{escape(t.title)}* — {escape(t.summary)}"
                                     + _sources(t, links) for t in digest.topics]),
        (":white_check_mark: Decisions", [escape(d.text) + _sources(d, links)
                                          for d in digest.decisions]),
        (":pushpin: Action items", [_action(a) + _sources(a, links)
                                    for a in digest.action_items]),
        (":question: Open questions", [escape(q.question) + _sources(q, links)
                                       for q in digest.open_questions]),
    ]
    return [(heading, lines) for heading, lines in parts if lines]


def digest_blocks(title: str, context: str, digest: Digest | None, plain: str | None,
                  links: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """The message's fallback text and blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, 3000)}]},
    ]
    if digest is None:
        blocks += _sections(escape(plain or ""))
        return f"{title}\n{plain or ''}"[:3000], blocks[:MAX_BLOCKS]
    fallback = [title]
    for heading, lines in digest_lines(digest, links):
        blocks += _sections(f"*{heading}*\n" + "\n".join(f"• {line}" for line in lines))
        fallback.append(f"{heading}: {len(lines)}")
    if digest.is_empty():
        blocks += _sections("_Nothing stood out in this period._")
    return " · ".join(fallback), blocks[:MAX_BLOCKS]


def _sections(text: str) -> list[dict[str, Any]]:
    """mrkdwn sections of at most SECTION_LIMIT characters, split at line ends."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current.strip():
        chunks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
