"""response_url endpoints: at most 5 uses in 30 minutes, with their effects on state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .api_chat import MAX_TEXT
from .args import as_bool
from .blocks import validate_blocks
from .models import Ephemeral, Message, SlackError
from .state import Workspace
from .view import visible_of

MAX_USES = 5


@dataclass
class ResponseUrl:
    """One issued response_url and what it is bound to."""

    id: str
    created: float
    channel: str | None = None
    user: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    uses: int = 0


def _original(ws: Workspace, slot: ResponseUrl) -> Message | None:
    """The message the response_url came from, if bound and still there."""
    if not (slot.channel and slot.message_ts):
        return None
    msg = ws.messages.get(slot.channel, {}).get(slot.message_ts)
    return None if msg is None or msg.deleted else msg


def apply_response(ws: Workspace, slot: ResponseUrl, body: Any) -> tuple[int, dict[str, Any]]:
    """Validate and apply one response_url post; returns (HTTP status, JSON body)."""
    if ws.now() - slot.created > ws.response_url_ttl_s:
        return 404, {"ok": False, "error": "expired_url"}
    if slot.uses >= MAX_USES:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(body, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    slot.uses += 1
    original = _original(ws, slot)
    if as_bool(body.get("delete_original")):
        if original is not None:
            ws.delete_message(original)
        return 200, {"ok": True}
    text, blocks = body.get("text"), body.get("blocks")
    if not text and not blocks:
        return 400, {"ok": False, "error": "no_text"}
    if text is not None and len(str(text)) > MAX_TEXT:
        return 400, {"ok": False, "error": "msg_too_long"}
    if blocks is not None:
        try:
            validate_blocks(blocks)
        except SlackError as err:
            return 400, err.body()
    if as_bool(body.get("replace_original")) and original is not None:
        previous = ws.to_json(original)
        original.text = str(text or "")
        original.blocks = blocks or None
        original.markdown_text = None
        original.edited = {"user": ws.bot_user_id, "ts": ws.next_ts()}
        ws.emit("changed", original, previous)
    elif body.get("response_type") == "in_channel" and slot.channel in ws.channels:
        thread_ts = body.get("thread_ts") or slot.thread_ts
        parent = ws.messages[slot.channel].get(str(thread_ts)) if thread_ts else None
        ws.add_bot_message(ws.channels[slot.channel],
                           thread_ts if parent and not parent.is_reply else None,
                           text=str(text or ""), blocks=blocks or None)
    elif slot.channel and slot.user:
        shown = Message(channel=slot.channel, ts="", user=ws.bot_user_id, text=str(text or ""),
                        blocks=blocks or None)
        ws.add_ephemeral(Ephemeral(slot.channel, slot.user, ws.next_ts(), shown.text,
                                   shown.blocks, body.get("thread_ts") or slot.thread_ts,
                                   visible_of(shown)))
    return 200, {"ok": True}
