"""How stored messages look to a person (VisibleMessage) and on the wire (message JSON)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .blocks import block_buttons, block_prose
from .models import Message


@dataclass
class VisibleMessage:
    """A message as a user sees it in a thread right now."""

    ts: str
    thread_ts: str | None
    user: str | None
    bot_id: str | None
    text: str
    blocks: list[dict[str, Any]] | None
    files: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    edited: bool
    streaming: str | None
    visible: str
    buttons: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    subtype: str | None = None


def markdown_source(msg: Message) -> str | None:
    """The standard-markdown body of a message (markdown_text or a native stream)."""
    if msg.markdown_text is not None:
        return msg.markdown_text
    if msg.stream is not None and not msg.stream.replaced:
        return msg.stream.text
    return None


def _attachment_prose(attachments: list[dict[str, Any]] | None) -> list[str]:
    """Text pieces a person reads in legacy attachments."""
    out: list[str] = []
    for att in attachments or []:
        out.extend(str(att[key]) for key in ("pretext", "title", "text") if att.get(key))
        out.extend(str(f.get("value", "")) for f in att.get("fields") or [])
        out.extend(block_prose(att.get("blocks")))
    return [piece for piece in out if piece]


def visible_of(msg: Message) -> str:
    """The text a person sees: markdown body, else block prose, else `text`; plus attachments."""
    pieces: list[str] = []
    md = markdown_source(msg)
    if md:
        pieces.append(md)
    pieces.extend(block_prose(msg.blocks))
    if md is None and not msg.blocks and msg.text:
        pieces.append(msg.text)
    pieces.extend(_attachment_prose(msg.attachments))
    return "\n".join(pieces)


def to_visible(msg: Message, streaming: str | None) -> VisibleMessage:
    """Build the VisibleMessage of a stored message."""
    return VisibleMessage(
        ts=msg.ts,
        thread_ts=msg.thread_ts,
        user=msg.user,
        bot_id=msg.bot_id,
        text=msg.text,
        blocks=msg.blocks,
        files=list(msg.files or []),
        metadata=msg.metadata,
        edited=msg.edited is not None,
        streaming=streaming,
        visible=visible_of(msg),
        buttons=block_buttons(msg.blocks),
        reactions={k: list(v) for k, v in msg.reactions.items()},
        subtype=msg.subtype,
    )


def _block_id(seed: str) -> str:
    """A stable short block_id like the ones Slack generates."""
    return hashlib.sha1(seed.encode()).hexdigest()[:5]


def wire_blocks(msg: Message) -> list[dict[str, Any]] | None:
    """The `blocks` Slack returns for a message (text-only messages get a rich_text block)."""
    md = markdown_source(msg)
    if md is not None:
        head = [{"type": "markdown", "block_id": _block_id(msg.ts + "md"), "text": md}]
        return head + list(msg.blocks or [])
    if msg.blocks is not None:
        return msg.blocks
    if not msg.text:
        return None
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": msg.text}]}
    return [{"type": "rich_text", "block_id": _block_id(msg.ts), "elements": [section]}]


def message_json(
    msg: Message,
    *,
    team_id: str,
    include_metadata: bool = True,
    replies: list[Message] | None = None,
    parent_user: str | None = None,
) -> dict[str, Any]:
    """The message object Slack puts in API responses and events."""
    out: dict[str, Any] = {"type": "message", "ts": msg.ts, "text": msg.text}
    if msg.user:
        out["user"] = msg.user
    if msg.subtype:
        out["subtype"] = msg.subtype
    if msg.bot_id:
        out["bot_id"] = msg.bot_id
        out["app_id"] = msg.app_id
        out["bot_profile"] = {"id": msg.bot_id, "app_id": msg.app_id, "team_id": team_id}
    out["team"] = team_id
    blocks = wire_blocks(msg)
    if blocks is not None:
        out["blocks"] = blocks
    if msg.attachments:
        out["attachments"] = msg.attachments
    if msg.files:
        out["files"] = msg.files
        out["upload"] = True
    if msg.thread_ts:
        out["thread_ts"] = msg.thread_ts
    if msg.is_reply and parent_user:
        out["parent_user_id"] = parent_user
    if replies:
        users = list(dict.fromkeys(r.user for r in replies if r.user))
        out.update(
            thread_ts=msg.ts,
            reply_count=len(replies),
            reply_users=users,
            reply_users_count=len(users),
            latest_reply=replies[-1].ts,
        )
    if msg.edited:
        out["edited"] = dict(msg.edited)
    if msg.reactions:
        out["reactions"] = [
            {"name": name, "users": list(users), "count": len(users)}
            for name, users in msg.reactions.items()
        ]
    if include_metadata and msg.metadata is not None:
        out["metadata"] = msg.metadata
    return out
