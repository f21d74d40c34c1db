"""Plain records kept by the fake Slack: workspace objects, messages and call logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SlackError(Exception):
    """A Web API failure answered as `{"ok": false, "error": code}`."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        messages: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = headers or {}
        self.messages = messages or []
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Slack would answer with."""
        out: dict[str, Any] = {"ok": False, "error": self.code, **self.extra}
        if self.messages:
            out["response_metadata"] = {"messages": list(self.messages)}
        return out


@dataclass
class Call:
    """One recorded HTTP call to the fake (Web API method, upload or download)."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int
    ok: bool
    error: str | None


@dataclass
class Channel:
    """A conversation: public/private channel, IM or MPIM."""

    id: str
    name: str
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True
    user: str | None = None
    members: set[str] | None = None
    created: int = 0

    def has_user(self, user_id: str) -> bool:
        """Whether a human user is a member (None members = everybody)."""
        if self.is_im:
            return user_id == self.user
        return self.members is None or user_id in self.members

    @property
    def channel_type(self) -> str:
        """The Events API `channel_type` of this conversation."""
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "group" if self.is_private else "channel"


@dataclass
class User:
    """A workspace member."""

    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_bot: bool = False
    tz: str = "America/Los_Angeles"
    deleted: bool = False


@dataclass
class StreamState:
    """Native streaming state of one message (chat.startStream and friends)."""

    started_at: float
    state: str = "streaming"
    text: str = ""
    chunks: list[dict[str, Any]] = field(default_factory=list)
    recipient_team_id: str | None = None
    recipient_user_id: str | None = None
    task_display_mode: str | None = None
    replaced: bool = False


@dataclass
class Message:
    """A message stored in a channel, as Slack keeps it."""

    channel: str
    ts: str
    user: str | None
    text: str = ""
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    markdown_text: str | None = None
    files: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    subtype: str | None = None
    edited: dict[str, str] | None = None
    reply_broadcast: bool = False
    stream: StreamState | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        """Whether this message lives inside another message's thread."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class Ephemeral:
    """A message only one user saw (chat.postEphemeral or an ephemeral response_url post)."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    visible: str


@dataclass
class StatusRecord:
    """One assistant.threads.setStatus call as Slack stored it."""

    channel: str
    thread_ts: str
    status: str
    loading_messages: list[str] | None
    at: float


@dataclass
class ResponseRecord:
    """One JSON post received on a response_url."""

    url: str
    body: dict[str, Any]
    at: float
    status: int


@dataclass
class UploadSlot:
    """A file announced by files.getUploadURLExternal, waiting for its bytes."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    content: bytes | None = None


@dataclass
class Fault:
    """A scripted failure for the next call of a method."""

    status: int = 429
    retry_after: int = 1
    error: str | None = None
    after_processing: bool = False
    """The call takes effect, then its answer is lost (a 5xx or a reset after Slack acted)."""
