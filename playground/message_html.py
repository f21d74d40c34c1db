"""One Slack message (or ephemeral) as the HTML the playground page shows."""

from __future__ import annotations

import html
from typing import Any

from fakes.slack import Ephemeral, FakeSlack, Message
from fakes.slack.view import markdown_source
from playground.blockkit import blocks
from playground.text_html import Names, emoji, markdown, mrkdwn

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def namer(slack: FakeSlack) -> Names:
    """Display names of users and channels of the fake workspace."""

    def name(entity_id: str) -> str:
        user = slack.users.get(entity_id)
        if user is not None:
            return user.name
        channel = slack.channels.get(entity_id)
        return channel.name if channel is not None else entity_id

    return name


def _size(n: int) -> str:
    """A byte count for people."""
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def files_html(files: list[dict[str, Any]]) -> str:
    """Shared files: images inline, everything else as a download card."""
    out = []
    for f in files:
        fid = html.escape(str(f.get("id") or ""), quote=True)
        name = html.escape(str(f.get("title") or f.get("name") or "file"))
        if f.get("mimetype") in IMAGE_TYPES:
            out.append(f'<a class="file-img" href="/files/{fid}" target="_blank">'
                       f'<img src="/files/{fid}" alt="{name}" loading="lazy"></a>')
        else:
            kind = html.escape(str(f.get("pretty_type") or f.get("filetype") or "file"))
            out.append(f'<a class="file-card" href="/files/{fid}" target="_blank">'
                       f'<span class="file-icon">📄</span><span><b>{name}</b><br>'
                       f'<small>{kind} · {_size(int(f.get("size") or 0))}</small></span></a>')
    return f'<div class="files">{"".join(out)}</div>' if out else ""


def _attachments(items: list[dict[str, Any]] | None, names: Names) -> str:
    """Legacy attachments: a coloured bar with pretext, title, text, fields and blocks."""
    out = []
    for att in items or []:
        color = html.escape(str(att.get("color") or "#ddd"), quote=True)
        if not color.startswith("#"):
            color = "#" + color
        parts = [mrkdwn(str(att[k]), names) for k in ("pretext", "title", "text") if att.get(k)]
        parts += [f"<b>{html.escape(str(f.get('title', '')))}</b> "
                  f"{mrkdwn(str(f.get('value', '')), names)}" for f in att.get("fields") or []]
        parts.append(blocks(att.get("blocks"), names))
        out.append(f'<div class="attachment" style="border-color:{color}">'
                   + "<br>".join(p for p in parts if p) + "</div>")
    return "".join(out)


def _stream_extras(msg: Message, names: Names) -> str:
    """Native-stream chunks besides Markdown: the plan, task progress and block chunks."""
    if msg.stream is None or msg.stream.replaced:
        return ""
    tasks: dict[str, dict[str, Any]] = {}
    out = []
    for chunk in msg.stream.chunks:
        kind = chunk.get("type")
        if kind == "plan_update":
            out.append(f'<div class="plan">{html.escape(str(chunk.get("title") or ""))}</div>')
        elif kind == "task_update":
            tasks[str(chunk.get("id"))] = chunk
        elif kind == "blocks":
            out.append(blocks(chunk.get("blocks"), names))
    marks = {"pending": "○", "in_progress": "◔", "complete": "✓", "error": "✗"}
    items = "".join(f'<li class="task {html.escape(str(t.get("status")))}">'
                    f'{marks.get(str(t.get("status")), "•")} {html.escape(str(t.get("title")))}'
                    "</li>" for t in tasks.values())
    return "".join(out) + (f'<ul class="tasks">{items}</ul>' if items else "")


def body_html(msg: Message, names: Names) -> str:
    """What a message says: Markdown body, blocks, else its mrkdwn text; then attachments."""
    if msg.deleted or msg.subtype == "tombstone":
        return '<div class="tombstone">This message was deleted.</div>'
    parts = [_stream_extras(msg, names)]
    md = markdown_source(msg)
    if md:
        parts.append(f'<div class="blk md">{markdown(md, names)}</div>')
    if msg.blocks:
        parts.append(blocks(msg.blocks, names))
    if md is None and not msg.blocks and msg.text:
        parts.append(f'<div class="text">{mrkdwn(msg.text, names)}</div>')
    parts.append(_attachments(msg.attachments, names))
    return "".join(parts)


def _head(who: str, is_bot: bool, ts: str, extra: str = "") -> str:
    """Avatar, name, APP badge and time."""
    initial = html.escape(who[:1].upper() or "?")
    badge = '<span class="app-badge">APP</span>' if is_bot else ""
    return (f'<div class="avatar{" bot" if is_bot else ""}" aria-hidden="true">{initial}</div>'
            f'<div class="msg-main"><div class="msg-head"><span class="who">'
            f'{html.escape(who)}</span>{badge}<time data-ts="{html.escape(ts)}"></time>'
            f"{extra}</div>")


def message_html(slack: FakeSlack, msg: Message, streaming: bool) -> str:
    """A stored message: header, body, files, reactions."""
    names = namer(slack)
    is_bot = msg.bot_id is not None
    who = names(msg.user) if msg.user else "bot"
    extra = '<span class="edited">(edited)</span>' if msg.edited else ""
    reactions = "".join(
        f'<span class="reaction">{html.escape(emoji(name))} {len(users)}</span>'
        for name, users in msg.reactions.items() if users)
    cursor = '<span class="cursor" aria-label="writing"></span>' if streaming else ""
    return (_head(who, is_bot, msg.ts, extra)
            + f'<div class="msg-body">{body_html(msg, names)}{cursor}</div>'
            + files_html(list(msg.files or []))
            + (f'<div class="reactions">{reactions}</div>' if reactions else "")
            + "</div>")


def ephemeral_html(slack: FakeSlack, eph: Ephemeral) -> str:
    """A message only you can see."""
    names = namer(slack)
    body = blocks(eph.blocks, names) if eph.blocks else mrkdwn(eph.text, names)
    note = '<span class="only-you">Only visible to you</span>'
    return _head("gemini", True, eph.ts, note) + f'<div class="msg-body">{body}</div></div>'

