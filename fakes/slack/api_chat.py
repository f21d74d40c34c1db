"""chat.postMessage / update / delete / postEphemeral with Slack's content limits."""

from __future__ import annotations

from typing import Any

from .args import as_bool, required, text_arg
from .blocks import validate_blocks
from .models import Channel, Ephemeral, Message, SlackError
from .state import Workspace
from .view import visible_of

MAX_TEXT = 40_000
MAX_MARKDOWN_TEXT = 12_000
MAX_ATTACHMENTS = 100


def _present(value: Any) -> bool:
    """Whether an argument carries content (non-empty string or list)."""
    return value not in (None, "", [])


def validate_content(args: dict[str, Any], *, require: bool = True) -> None:
    """Raise what Slack answers for bad text/blocks/markdown_text/attachments/metadata."""
    text, blocks = args.get("text"), args.get("blocks")
    md, attachments = args.get("markdown_text"), args.get("attachments")
    if md is not None and (_present(text) or blocks is not None):
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] markdown_text cannot be used with text or blocks"],
        )
    if require and not any(_present(v) for v in (text, blocks, md, attachments)):
        raise SlackError("no_text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if md is not None and len(str(md)) > MAX_MARKDOWN_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        validate_blocks(blocks)
    if attachments is not None:
        if not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if len(attachments) > MAX_ATTACHMENTS:
            raise SlackError("too_many_attachments")
    check_metadata(args.get("metadata"))


def check_metadata(metadata: Any) -> None:
    """Message metadata must be `{event_type, event_payload}`."""
    if metadata is None:
        return
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")


def resolve_channel(ws: Workspace, value: Any) -> Channel:
    """A channel from an id, a #name, or a user id (the bot's DM with that user)."""
    key = str(value or "")
    if key.startswith("#") or (key and key not in ws.channels and key not in ws.users):
        name = key.lstrip("#")
        for ch in ws.channels.values():
            if ch.name == name and not ch.is_im:
                return ws.channel(ch.id)
    if key in ws.users and key not in ws.channels:
        for ch in ws.channels.values():
            if ch.is_im and ch.user == key:
                return ch
        return ws.add_channel(ws.new_id("D"), is_im=True, user=key)
    return ws.channel(key)


def _own_message(ws: Workspace, msg: Message, error: str) -> None:
    """Bot tokens may only change the bot's own messages."""
    if msg.bot_id != ws.bot_id and msg.user != ws.bot_user_id:
        raise SlackError(error)


def post_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.postMessage."""
    ch = resolve_channel(ws, args.get("channel"))
    if ch.is_archived:
        raise SlackError("is_archived")
    validate_content(args)
    thread_ts = text_arg(args, "thread_ts") or None
    if thread_ts is not None:
        ws.check_thread(ch.id, thread_ts)
    broadcast = thread_ts is not None and as_bool(args.get("reply_broadcast"))
    md = text_arg(args, "markdown_text")
    msg = ws.add_bot_message(
        ch,
        thread_ts,
        text=md if md is not None else str(args.get("text") or ""),
        blocks=args.get("blocks") or None,
        attachments=args.get("attachments") or None,
        markdown_text=md,
        metadata=args.get("metadata"),
        reply_broadcast=broadcast,
        subtype="thread_broadcast" if broadcast else None,
    )
    return {"channel": ch.id, "ts": msg.ts, "message": ws.to_json(msg)}


def update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.update (blocks/attachments not sent are kept, as in Slack)."""
    ch = ws.channel(args.get("channel"))
    msg = ws.message(ch.id, args.get("ts"))
    _own_message(ws, msg, "cant_update_message")
    has_extra = args.get("metadata") is not None or _present(args.get("file_ids"))
    validate_content(args, require=not has_extra)
    previous = ws.to_json(msg)
    md = text_arg(args, "markdown_text")
    content_changed = any(args.get(k) is not None for k in ("text", "blocks", "markdown_text",
                                                            "attachments"))
    if md is not None:
        msg.markdown_text, msg.text, msg.blocks = md, md, None
    else:
        if args.get("text") is not None:
            msg.text = str(args["text"])
        if args.get("blocks") is not None:
            msg.blocks = args["blocks"] or None
        if content_changed:
            msg.markdown_text = None
    if args.get("attachments") is not None:
        msg.attachments = args["attachments"] or None
    if args.get("metadata") is not None:
        msg.metadata = args["metadata"]
    if content_changed and msg.stream is not None:
        msg.stream.replaced = True
    msg.edited = {"user": ws.bot_user_id, "ts": ws.next_ts()}
    ws.emit("changed", msg, previous)
    return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": ws.to_json(msg)}


def delete(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.delete."""
    ch = ws.channel(args.get("channel"))
    msg = ws.message(ch.id, args.get("ts"))
    _own_message(ws, msg, "cant_delete_message")
    ws.delete_message(msg)
    return {"channel": ch.id, "ts": msg.ts}


def post_ephemeral(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.postEphemeral (recorded per channel and user)."""
    ch = resolve_channel(ws, args.get("channel"))
    user = required(args, "user", "user_not_in_channel")
    if user not in ws.users or not ch.has_user(user):
        raise SlackError("user_not_in_channel")
    validate_content(args)
    md = text_arg(args, "markdown_text")
    shown = Message(channel=ch.id, ts="", user=ws.bot_user_id, text=str(args.get("text") or ""),
                    blocks=args.get("blocks") or None, markdown_text=md,
                    attachments=args.get("attachments") or None)
    ts = ws.next_ts()
    ws.add_ephemeral(Ephemeral(ch.id, user, ts, shown.text, shown.blocks,
                               text_arg(args, "thread_ts") or None, visible_of(shown)))
    return {"message_ts": ts}


def get_permalink(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.getPermalink: a message's URL (replies carry thread_ts and cid, as in Slack)."""
    ch = ws.channel(required(args, "channel", "channel_not_found"), member=not _public(ws, args))
    msg = ws.message(ch.id, required(args, "message_ts", "message_not_found"))
    link = f"https://{ws.team_name}.slack.com/archives/{ch.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


def _public(ws: Workspace, args: dict[str, Any]) -> bool:
    """A public channel: its messages have permalinks for the bot even when it is not in it."""
    ch = ws.channels.get(str(args.get("channel") or ""))
    return ch is not None and not ch.is_private


METHODS = {
    "chat.getPermalink": get_permalink,
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.delete": delete,
    "chat.postEphemeral": post_ephemeral,
}
