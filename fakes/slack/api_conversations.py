"""conversations.*, users.info, reactions.*, auth.test, views.publish, apps.connections.open."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .args import as_bool, as_int, required
from .blocks import MAX_VIEW_BLOCKS, VIEW_BLOCK_TYPES, validate_blocks
from .limits import RESTRICTED_MAX_LIMIT
from .models import Channel, Message, SlackError
from .state import Workspace

EMOJI_NAME = re.compile(r"^[a-z0-9_+\-']+(::skin-tone-[2-6])?$")


def _ts_value(value: Any, name: str) -> Decimal:
    """A ts-like bound as an exact decimal."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise SlackError("invalid_ts_" + name) from None


def _in_range(msgs: list[Message], args: dict[str, Any]) -> list[Message]:
    """Messages within oldest/latest (exclusive unless inclusive=true)."""
    oldest = _ts_value(args["oldest"], "oldest") if args.get("oldest") else None
    latest = _ts_value(args["latest"], "latest") if args.get("latest") else None
    inclusive = as_bool(args.get("inclusive"))
    out = []
    for m in msgs:
        ts = Decimal(m.ts)
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            continue
        if latest is not None and (ts > latest or (ts == latest and not inclusive)):
            continue
        out.append(m)
    return out


def _page(
    ws: Workspace, items: list[Message], args: dict[str, Any], default: int, maximum: int,
) -> tuple[list[Message], str]:
    """Cut one cursor page; returns (page, next_cursor) with "" at the end."""
    if ws.history_mode == "restricted":
        default = maximum = RESTRICTED_MAX_LIMIT
    limit = as_int(args["limit"], "limit") if args.get("limit") not in (None, "") else default
    limit = default if limit <= 0 else min(limit, maximum)
    offset = 0
    if args.get("cursor"):
        try:
            offset = int(base64.b64decode(str(args["cursor"])).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    cursor = base64.b64encode(f"next_offset:{offset + limit}".encode()).decode() if more else ""
    return page, cursor


def _listing(ws: Workspace, page: list[Message], cursor: str, args: dict[str, Any]) -> dict:
    """The common body of history/replies answers."""
    meta = as_bool(args.get("include_all_metadata"))
    return {
        "messages": [ws.to_json(m, include_metadata=meta) for m in page],
        "has_more": bool(cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def history(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """conversations.history: top-level messages newest first."""
    ch = ws.channel(args.get("channel"))
    top = [m for m in ws.messages[ch.id].values() if not m.is_reply or m.reply_broadcast]
    top = sorted(_in_range(top, args), key=lambda m: m.ts, reverse=True)
    page, cursor = _page(ws, top, args, default=100, maximum=999)
    return _listing(ws, page, cursor, args)


def replies(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """conversations.replies: the parent (first page only), then replies oldest first."""
    ch = ws.channel(args.get("channel"))
    msg = ws.messages[ch.id].get(required(args, "ts", "thread_not_found"))
    if msg is None:
        raise SlackError("thread_not_found")
    parent = ws.messages[ch.id][msg.thread_ts] if msg.is_reply and msg.thread_ts else msg
    items = [parent, *_in_range(ws.replies_of(ch.id, parent.ts), args)]
    page, cursor = _page(ws, items, args, default=1000, maximum=1000)
    return _listing(ws, page, cursor, args)


def channel_json(ch: Channel) -> dict[str, Any]:
    """A conversation object as conversations.info returns it."""
    out: dict[str, Any] = {
        "id": ch.id, "name": ch.name, "name_normalized": ch.name, "created": ch.created,
        "is_channel": not (ch.is_im or ch.is_mpim or ch.is_private),
        "is_group": ch.is_private and not (ch.is_im or ch.is_mpim), "is_im": ch.is_im,
        "is_mpim": ch.is_mpim, "is_private": ch.is_private, "is_archived": ch.is_archived,
        "is_general": ch.name == "general", "is_member": ch.is_member, "is_ext_shared": False,
        "is_org_shared": False, "is_shared": False,
    }
    if ch.is_im:
        out["user"] = ch.user
    return out


def info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """conversations.info."""
    return {"channel": channel_json(ws.channel(args.get("channel"), member=False))}


def join(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """conversations.join (public channels only)."""
    ch = ws.channel(args.get("channel"), member=False)
    if ch.is_im or ch.is_mpim or ch.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if ch.is_archived:
        raise SlackError("is_archived")
    out: dict[str, Any] = {}
    if ch.is_member:
        out["warning"] = "already_in_channel"
    ch.is_member = True
    return {**out, "channel": channel_json(ch)}


def users_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """users.info."""
    user = ws.users.get(str(args.get("user") or ""))
    if user is None:
        raise SlackError("user_not_found")
    profile = {"display_name": user.name, "display_name_normalized": user.name,
               "real_name": user.real_name, "real_name_normalized": user.real_name,
               "image_72": f"{ws.base_url}/avatars/{user.id}.png", "team": ws.team_id}
    return {"user": {
        "id": user.id, "team_id": ws.team_id, "name": user.name, "real_name": user.real_name,
        "deleted": user.deleted, "is_admin": user.is_admin, "is_owner": False,
        "is_bot": user.is_bot, "is_app_user": False, "tz": user.tz,
        "tz_offset": _tz_offset(user.tz),
        "profile": profile,
    }}


def _tz_offset(zone: str) -> int:
    """Seconds east of UTC in `zone` right now, as users.info reports it."""
    offset = datetime.now(ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _reaction_target(ws: Workspace, args: dict[str, Any]) -> tuple[Message, str]:
    """The message and emoji name of a reactions.* call."""
    ch = ws.channel(args.get("channel"))
    msg = ws.message(ch.id, args.get("timestamp"))
    name = required(args, "name", "invalid_name")
    if not EMOJI_NAME.match(name):
        raise SlackError("invalid_name")
    return msg, name


def reactions_add(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """reactions.add (as the bot user)."""
    msg, name = _reaction_target(ws, args)
    users = msg.reactions.setdefault(name, [])
    if ws.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(ws.bot_user_id)
    return {}


def reactions_remove(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """reactions.remove (as the bot user)."""
    msg, name = _reaction_target(ws, args)
    users = msg.reactions.get(name, [])
    if ws.bot_user_id not in users:
        raise SlackError("no_reaction")
    users.remove(ws.bot_user_id)
    if not users:
        del msg.reactions[name]
    return {}


def auth_test(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """auth.test for the bot token."""
    return {
        "url": f"https://{ws.team_name}.slack.com/", "team": ws.team_name,
        "user": ws.users[ws.bot_user_id].name, "team_id": ws.team_id,
        "user_id": ws.bot_user_id, "bot_id": ws.bot_id, "is_enterprise_install": False,
    }


def views_publish(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """views.publish of a Home tab (at most 100 blocks)."""
    user_id = required(args, "user_id")
    if user_id not in ws.users:
        raise SlackError("user_not_found")
    view = args.get("view")
    if not isinstance(view, dict) or view.get("type") != "home":
        raise SlackError("invalid_arguments", messages=["[ERROR] view must be a home view"])
    try:
        validate_blocks(view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS,
                        types=VIEW_BLOCK_TYPES)
    except SlackError as err:
        raise SlackError("invalid_arguments", messages=err.messages) from None
    current = ws.home_views.get(user_id)
    if args.get("hash") and current is not None and args["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    published = {
        **view, "id": current["id"] if current else ws.new_id("V"), "team_id": ws.team_id,
        "app_id": ws.api_app_id, "bot_id": ws.bot_id, "hash": uuid.uuid4().hex[:16],
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
    }
    ws.home_views[user_id] = published
    return {"view": published}


def connections_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """apps.connections.open (xapp token): a Socket Mode URL (this fake's, or `socket_url`)."""
    host = ws.socket_url or ws.base_url.replace("http://", "ws://")
    return {"url": f"{host}/link/?ticket={uuid.uuid4()}&app_id={ws.api_app_id}"}


METHODS = {
    "conversations.history": history,
    "conversations.replies": replies,
    "conversations.info": info,
    "conversations.join": join,
    "users.info": users_info,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "auth.test": auth_test,
    "views.publish": views_publish,
    "apps.connections.open": connections_open,
}
