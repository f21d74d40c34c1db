"""The fake workspace's state: channels, users, messages, files, statuses and the clock."""

from __future__ import annotations

import itertools
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from .limits import Limiter
from .models import (
    Call,
    Channel,
    Ephemeral,
    Fault,
    Message,
    ResponseRecord,
    SlackError,
    StatusRecord,
    UploadSlot,
    User,
)
from .view import VisibleMessage, message_json, to_visible

Listener = Callable[[str, Message, "dict[str, Any] | None"], None]
FILETYPES = {"jpeg": "jpg", "txt": "text", "md": "markdown", "py": "python", "yml": "yaml"}


class Workspace:
    """Everything Slack remembers about one workspace with one installed bot."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T1",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        api_app_id: str = "A1",
        team_name: str = "fake-team",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.api_app_id = api_app_id
        self.base_url = ""
        self.socket_url = ""
        """ws:// host serving Socket Mode when not this fake (a benchmark's sender process)."""
        self.rate_limits = True
        self.history_mode = "tier3"
        self.stream_ttl_s = 300.0
        self.status_ttl_s = 120.0
        self.response_url_ttl_s = 1800.0
        self.streaming_supported = True
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.messages: dict[str, dict[str, Message]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.uploads: dict[str, UploadSlot] = {}
        self.calls: list[Call] = []
        self.statuses: list[StatusRecord] = []
        self.titles: dict[tuple[str, str], str] = {}
        self.suggested_prompts: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}
        self.responses: list[ResponseRecord] = []
        self.limiter = Limiter()
        self.listeners: list[Listener] = []
        self._current_status: dict[tuple[str, str], StatusRecord] = {}
        self._ephemerals: list[Ephemeral] = []
        self._offset = 0.0
        self._last_us = 0
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, name="gemini", is_bot=True)

    # clock and ids -------------------------------------------------------------------------
    def now(self) -> float:
        """Monotonic seconds used for limits and expiry (shifted by advance())."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (expires streams, statuses, rate windows)."""
        self._offset += seconds

    def next_ts(self) -> str:
        """A new `"<10 digits>.<6 digits>"` ts, unique and increasing, from real time."""
        micros = max(int((time.time() + self._offset) * 1_000_000), self._last_us + 1)
        self._last_us = micros
        return f"{micros // 1_000_000:010d}.{micros % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        """A new Slack-looking id such as F0000000001."""
        return f"{prefix}{next(self._ids):010d}"

    # setup ---------------------------------------------------------------------------------
    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_im: bool = False,
        user: str | None = None,
        is_private: bool = False,
        is_mpim: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
        members: set[str] | None = None,
    ) -> Channel:
        """Create a channel (or a DM with `user` when is_im)."""
        if is_im and not user:
            raise ValueError("an IM needs the user it is with")
        channel = Channel(
            id=channel_id,
            name=name or (user if is_im and user else channel_id.lower()),
            is_im=is_im,
            is_mpim=is_mpim,
            is_private=is_private or is_im or is_mpim,
            is_archived=is_archived,
            is_member=True if is_im else is_member,
            user=user,
            members=set(members) if members is not None else None,
            created=int(time.time()),
        )
        self.channels[channel_id] = channel
        self.messages.setdefault(channel_id, {})
        return channel

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        tz: str = "America/Los_Angeles",
    ) -> User:
        """Create a workspace member."""
        user = User(user_id, name or user_id.lower(), real_name or (name or user_id), is_admin,
                    is_bot, tz)
        self.users[user_id] = user
        return user

    def file_object(self, file_id: str) -> dict[str, Any]:
        """The Slack file object for a stored file (with URLs on this fake)."""
        f = self.files[file_id]
        key = f"{self.team_id}-{file_id}"
        f["url_private"] = f"{self.base_url}/files-pri/{key}/{f['name']}"
        f["url_private_download"] = f"{self.base_url}/files-pri/{key}/download/{f['name']}"
        f["permalink"] = f"{self.base_url}/files/{f['user']}/{file_id}/{f['name']}"
        return dict(f)

    def store_file(
        self, name: str, mimetype: str | None, content: bytes, *, title: str | None = None,
        user: str | None = None, file_id: str | None = None,
    ) -> dict[str, Any]:
        """Keep file bytes and metadata; return the file object."""
        file_id = file_id or self.new_id("F")
        mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        filetype = FILETYPES.get(ext, ext)
        self.file_content[file_id] = content
        self.files[file_id] = {
            "id": file_id, "name": name, "title": title or name, "mimetype": mimetype,
            "filetype": filetype, "pretty_type": filetype.upper(), "size": len(content),
            "user": user or self.bot_user_id, "created": int(time.time()),
            "timestamp": int(time.time()), "mode": "hosted", "is_external": False,
            "is_public": False, "channels": [], "groups": [], "ims": [],
        }
        return self.file_object(file_id)

    def add_file(
        self, name: str, mimetype: str | None = None, content: bytes = b"", *,
        title: str | None = None, user: str | None = None,
    ) -> dict[str, Any]:
        """Add a file a human uploaded; returns its Slack file object."""
        return self.store_file(name, mimetype, content, title=title, user=user or "U1")

    def post_user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None,
        files: list[dict[str, Any] | str] | None = None, *, blocks: list[Any] | None = None,
        ts: str | None = None,
    ) -> str:
        """Put a human's message into state (no event is sent) and return its ts.

        `ts` backdates the message (it must be new in the channel), e.g. to fill a history.
        """
        if channel not in self.channels:
            raise ValueError(f"unknown channel {channel}")
        if ts is not None and ts in self.messages[channel]:
            raise ValueError(f"ts {ts} already used in {channel}")
        if thread_ts is not None:
            self.check_thread(channel, thread_ts)
        file_objs = [self.file_object(f if isinstance(f, str) else f["id"]) for f in files or []]
        msg = Message(channel=channel, ts=ts or self.next_ts(), user=user, text=text,
                      thread_ts=thread_ts, blocks=blocks, files=file_objs or None,
                      subtype="file_share" if file_objs else None)
        self.messages[channel][msg.ts] = msg
        return msg.ts

    def edit_user_message(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """A person edits their message (no event is sent); returns the previous wire form."""
        msg = self.message(channel, ts)
        previous = self.to_json(msg)
        msg.text = text
        msg.edited = {"user": str(msg.user), "ts": self.next_ts()}
        return previous

    def delete_user_message(self, channel: str, ts: str) -> dict[str, Any]:
        """A person deletes their message (no event is sent); returns its last wire form."""
        msg = self.message(channel, ts)
        previous = self.to_json(msg)
        self.delete_message(msg)
        return previous

    def fail_next(
        self, method: str, times: int = 1, status: int = 429, retry_after: int = 1,
        error: str | None = None, after_processing: bool = False,
    ) -> None:
        """Script the next calls of `method` ("(upload)" = upload URL) to fail."""
        # status=429: ratelimited + Retry-After; 500/503: server error; 0: connection dropped;
        # error="code": HTTP 200 {"ok": false, "error": code}. after_processing: the call
        # takes effect first (Slack posted the message), then the 5xx / reset is answered.
        self.limiter.script(method, Fault(status, retry_after, error, after_processing), times)

    # lookups -------------------------------------------------------------------------------
    def channel(self, channel_id: Any, *, member: bool = True) -> Channel:
        """The channel, or channel_not_found / not_in_channel as Slack answers."""
        ch = self.channels.get(str(channel_id or ""))
        if ch is None:
            raise SlackError("channel_not_found")
        if member and not ch.is_member:
            # Slack hides private conversations from non-members: they do not exist for them.
            raise SlackError("channel_not_found" if ch.is_private else "not_in_channel")
        return ch

    def message(self, channel_id: str, ts: Any) -> Message:
        """A live message, or message_not_found."""
        msg = self.messages.get(channel_id, {}).get(str(ts or ""))
        if msg is None or msg.deleted:
            raise SlackError("message_not_found")
        return msg

    def check_thread(self, channel_id: str, thread_ts: Any) -> str:
        """Validate a thread_ts: it must be an existing top-level message in the channel."""
        # Real Slack's answer for a bogus (or a reply's) thread_ts was not verified; this fake
        # chooses to reject both with `invalid_thread_ts` so bot bugs surface in tests.
        msg = self.messages.get(channel_id, {}).get(str(thread_ts))
        if msg is None or msg.is_reply:
            raise SlackError("invalid_thread_ts")
        return str(thread_ts)

    def replies_of(self, channel_id: str, parent_ts: str) -> list[Message]:
        """The live replies of a thread, oldest first."""
        found = [m for m in self.messages.get(channel_id, {}).values()
                 if m.thread_ts == parent_ts and m.ts != parent_ts and not m.deleted]
        return sorted(found, key=lambda m: m.ts)

    def stream_state(self, msg: Message) -> str | None:
        """None, "streaming", "stopped" or "expired" (streaming past stream_ttl_s)."""
        if msg.stream is None:
            return None
        age = self.now() - msg.stream.started_at
        if msg.stream.state == "streaming" and age > self.stream_ttl_s:
            return "expired"
        return msg.stream.state

    def to_json(self, msg: Message, *, include_metadata: bool = True) -> dict[str, Any]:
        """The wire form of a stored message."""
        replies = None if msg.is_reply else self.replies_of(msg.channel, msg.ts)
        parent = self.messages[msg.channel].get(msg.thread_ts or "") if msg.is_reply else None
        return message_json(msg, team_id=self.team_id, include_metadata=include_metadata,
                            replies=replies, parent_user=parent.user if parent else None)

    # mutations used by API handlers ---------------------------------------------------------
    def add_bot_message(self, channel: Channel, thread_ts: str | None, **fields: Any) -> Message:
        """Store a message the bot posted, clear the thread status, notify listeners."""
        msg = Message(channel=channel.id, ts=self.next_ts(), user=self.bot_user_id,
                      bot_id=self.bot_id, app_id=self.api_app_id, thread_ts=thread_ts, **fields)
        self.messages[channel.id][msg.ts] = msg
        if thread_ts:
            self._current_status.pop((channel.id, thread_ts), None)
        self.emit("posted", msg, None)
        return msg

    def delete_message(self, msg: Message) -> None:
        """Delete a message; a parent with replies leaves a tombstone, as in Slack."""
        if not msg.is_reply and self.replies_of(msg.channel, msg.ts):
            msg.deleted, msg.subtype, msg.text = True, "tombstone", "This message was deleted."
            msg.blocks = msg.files = msg.attachments = msg.markdown_text = None
        else:
            del self.messages[msg.channel][msg.ts]
            msg.deleted = True
        self.emit("deleted", msg, None)

    def emit(self, kind: str, msg: Message, previous: dict[str, Any] | None) -> None:
        """Tell listeners (e.g. the event echo) that the bot changed a message."""
        for listener in self.listeners:
            listener(kind, msg, previous)

    def set_status(self, record: StatusRecord) -> None:
        """Store an assistant thread status ("" clears it)."""
        self.statuses.append(record)
        key = (record.channel, record.thread_ts)
        if record.status:
            self._current_status[key] = record
        else:
            self._current_status.pop(key, None)

    def add_ephemeral(self, eph: Ephemeral) -> None:
        """Record an ephemeral message shown to one user."""
        self._ephemerals.append(eph)

    # inspection for tests -------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    def visible_thread(self, channel: str, thread_ts: str) -> list[VisibleMessage]:
        """What a user sees in a thread now: parent first, then replies oldest first."""
        parent = self.messages.get(channel, {}).get(thread_ts)
        replies = self.replies_of(channel, thread_ts)
        shown = [to_visible(m, self.stream_state(m)) for m in replies]
        if parent is not None and not parent.deleted:
            head = to_visible(parent, self.stream_state(parent))
            head.thread_ts = thread_ts if replies else parent.thread_ts
            shown.insert(0, head)
        return shown

    def visible_text(self, channel: str, thread_ts: str) -> str:
        """The visible text of the bot's messages in a thread, joined with newlines."""
        return "\n".join(m.visible for m in self.visible_thread(channel, thread_ts)
                         if m.bot_id == self.bot_id and m.visible)

    def visible_status(self, channel: str, thread_ts: str) -> str:
        """The assistant status shown in a thread now ("" when none or expired)."""
        rec = self._current_status.get((channel, thread_ts))
        if rec is None or self.now() - rec.at > self.status_ttl_s:
            return ""
        return rec.status

    def ephemerals(self, channel: str, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages shown in a channel (optionally to one user)."""
        return [e for e in self._ephemerals
                if e.channel == channel and (user is None or e.user == user)]
