"""Native streaming (chat.startStream/appendStream/stopStream) and assistant.threads.*."""

from __future__ import annotations

from typing import Any

from .api_chat import MAX_MARKDOWN_TEXT, check_metadata
from .args import required, text_arg
from .blocks import validate_blocks
from .models import Message, SlackError, StatusRecord, StreamState
from .state import Workspace

CHUNK_TYPES = frozenset({"markdown_text", "plan_update", "task_update", "blocks"})
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
MAX_LOADING_MESSAGES = 10


def _chunks(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Validated `chunks` plus `markdown_text` as one list of chunks."""
    md = text_arg(args, "markdown_text")
    if md is not None and len(md) > MAX_MARKDOWN_TEXT:
        raise SlackError("msg_too_long")
    chunks = args.get("chunks")
    if chunks is None:
        chunks = []
    if not isinstance(chunks, list):
        raise SlackError("invalid_arguments", messages=["[ERROR] chunks must be an array"])
    for i, chunk in enumerate(chunks):
        kind = chunk.get("type") if isinstance(chunk, dict) else None
        bad = kind not in CHUNK_TYPES
        if kind == "markdown_text":
            text = chunk.get("text")
            bad = not isinstance(text, str) or len(text) > MAX_MARKDOWN_TEXT
        elif kind == "task_update":
            bad = not chunk.get("id") or not chunk.get("title") or (
                chunk.get("status") not in TASK_STATUSES)
        elif kind == "plan_update":
            bad = not chunk.get("title")
        elif kind == "blocks":
            validate_blocks(chunk.get("blocks"))
        if bad:
            raise SlackError("invalid_arguments",
                             messages=[f"[ERROR] invalid chunk [json-pointer:/chunks/{i}]"])
    return ([{"type": "markdown_text", "text": md}] if md else []) + list(chunks)


def _absorb(msg: Message, chunks: list[dict[str, Any]]) -> None:
    """Append chunks to a streaming message: markdown accumulates, the rest is kept."""
    assert msg.stream is not None
    for chunk in chunks:
        msg.stream.chunks.append(chunk)
        if chunk["type"] == "markdown_text":
            msg.stream.text += chunk["text"]
    msg.text = msg.stream.text


def _check_supported(ws: Workspace) -> None:
    """streaming_supported=False models a workspace/SDK where these methods do not exist."""
    if not ws.streaming_supported:
        raise SlackError("unknown_method")


def start_stream(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.startStream: a streaming reply in a thread."""
    _check_supported(ws)
    ch = ws.channel(args.get("channel"))
    thread_ts = ws.check_thread(ch.id, required(args, "thread_ts"))
    if not ch.is_im:
        if not args.get("recipient_team_id"):
            raise SlackError("missing_recipient_team_id")
        if not args.get("recipient_user_id"):
            raise SlackError("missing_recipient_user_id")
    chunks = _chunks(args)
    stream = StreamState(
        started_at=ws.now(),
        recipient_team_id=text_arg(args, "recipient_team_id"),
        recipient_user_id=text_arg(args, "recipient_user_id"),
        task_display_mode=text_arg(args, "task_display_mode"),
    )
    text = "".join(c["text"] for c in chunks if c["type"] == "markdown_text")
    stream.chunks.extend(chunks)
    stream.text = text
    msg = ws.add_bot_message(ch, thread_ts, text=text, stream=stream)
    return {"channel": ch.id, "ts": msg.ts}


def _streaming(ws: Workspace, args: dict[str, Any]) -> Message:
    """The message named by channel+ts, which must still be streaming."""
    _check_supported(ws)
    ch = ws.channel(args.get("channel"))
    msg = ws.message(ch.id, args.get("ts"))
    if ws.stream_state(msg) != "streaming":
        raise SlackError("message_not_in_streaming_state")
    return msg


def append_stream(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.appendStream."""
    msg = _streaming(ws, args)
    _absorb(msg, _chunks(args))
    return {"channel": msg.channel, "ts": msg.ts}


def stop_stream(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """chat.stopStream: final text, optional blocks at the bottom, metadata."""
    msg = _streaming(ws, args)
    chunks = _chunks(args)
    blocks = args.get("blocks")
    if blocks is not None:
        validate_blocks(blocks)
    check_metadata(args.get("metadata"))
    previous = ws.to_json(msg)
    _absorb(msg, chunks)
    assert msg.stream is not None
    msg.stream.state = "stopped"
    if blocks:
        msg.blocks = blocks
    if args.get("metadata") is not None:
        msg.metadata = args["metadata"]
    ws.emit("changed", msg, previous)
    return {"channel": msg.channel, "ts": msg.ts, "message": ws.to_json(msg)}


def set_status(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """assistant.threads.setStatus ("" clears; cleared too when the bot posts in the thread)."""
    ch = ws.channel(required(args, "channel_id", "channel_not_found"))
    thread_ts = ws.check_thread(ch.id, required(args, "thread_ts"))
    if "status" not in args or not isinstance(args["status"], str):
        raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: status"])
    loading = args.get("loading_messages")
    if loading is not None and (not isinstance(loading, list) or
                                len(loading) > MAX_LOADING_MESSAGES):
        raise SlackError("invalid_arguments",
                         messages=["[ERROR] loading_messages must hold at most 10 items"])
    ws.set_status(StatusRecord(ch.id, thread_ts, args["status"], loading, ws.now()))
    return {}


def set_title(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """assistant.threads.setTitle."""
    ch = ws.channel(required(args, "channel_id", "channel_not_found"))
    thread_ts = ws.check_thread(ch.id, required(args, "thread_ts"))
    ws.titles[(ch.id, thread_ts)] = required(args, "title")
    return {}


def set_suggested_prompts(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """assistant.threads.setSuggestedPrompts (thread_ts optional for the Messages tab)."""
    ch = ws.channel(required(args, "channel_id", "channel_not_found"))
    thread_ts = text_arg(args, "thread_ts") or None
    if thread_ts is not None:
        ws.check_thread(ch.id, thread_ts)
    prompts = args.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(
        isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts
    ):
        raise SlackError("invalid_arguments",
                         messages=["[ERROR] prompts must be a list of {title, message}"])
    ws.suggested_prompts.append({"channel_id": ch.id, "thread_ts": thread_ts,
                                 "title": text_arg(args, "title"), "prompts": prompts})
    return {}


METHODS = {
    "chat.startStream": start_stream,
    "chat.appendStream": append_stream,
    "chat.stopStream": stop_stream,
    "assistant.threads.setStatus": set_status,
    "assistant.threads.setTitle": set_title,
    "assistant.threads.setSuggestedPrompts": set_suggested_prompts,
}
