"""A user message the bot may answer, parsed from a Slack event."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from storage import ThreadKey

ANSWERED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
"""Message subtypes that carry a person's new message; edits, deletes, joins… are not turns."""

_TS = re.compile(r"^\d{9,10}\.\d{6}$")


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One person's message in Slack, reduced to what a turn needs."""

    team_id: str
    channel_id: str
    user_id: str
    text: str
    ts: str
    thread_ts: str | None = None
    channel_type: str = "channel"
    files: list[dict[str, Any]] = field(default_factory=list)
    mentioned: bool = False

    @property
    def reply_thread_ts(self) -> str:
        """The thread the answer goes into: the message's thread, or a new one under it."""
        return self.thread_ts or self.ts

    @property
    def key(self) -> ThreadKey:
        """The conversation this message belongs to."""
        return ThreadKey(self.team_id, self.channel_id, self.reply_thread_ts)

    @property
    def is_dm(self) -> bool:
        """Sent in a direct message with the bot."""
        return self.channel_type == "im"

    @property
    def in_existing_thread(self) -> bool:
        """A reply inside a thread (not a top-level message)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def idempotency_key(self) -> str:
        """Same for every delivery of this message (retries, app_mention + message)."""
        return f"msg:{self.team_id}:{self.channel_id}:{self.ts}"

    def to_payload(self) -> dict[str, Any]:
        """A JSON-safe dict, for the turn queue."""
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> IncomingMessage:
        """Inverse of `to_payload`."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})


class NotATurn(Exception):
    """The event is not something the bot answers; the message says why (for debug logs)."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed


def parse_message_event(event: dict[str, Any], *, team_id: str, mentioned: bool) -> IncomingMessage:
    """Validate a Slack `app_mention`/`message` event and extract the turn's fields."""
    subtype = event.get("subtype")
    if subtype not in ANSWERED_SUBTYPES:
        raise NotATurn(f"subtype {subtype}")
    if event.get("bot_id") or event.get("bot_profile"):
        raise NotATurn("bot message")
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not isinstance(user, str) or not isinstance(channel, str) or not isinstance(ts, str):
        raise NotATurn("missing user/channel/ts", malformed=True)
    if not _TS.match(ts):
        raise NotATurn("malformed ts", malformed=True)
    thread_ts = event.get("thread_ts")
    if thread_ts is not None and (not isinstance(thread_ts, str) or not _TS.match(thread_ts)):
        raise NotATurn("malformed thread_ts", malformed=True)
    text = event.get("text")
    files = event.get("files")
    return IncomingMessage(
        team_id=str(event.get("team") or team_id),
        channel_id=channel,
        user_id=user,
        text=text if isinstance(text, str) else "",
        ts=ts,
        thread_ts=thread_ts,
        channel_type=str(event.get("channel_type")
                         or ("im" if channel.startswith("D") else "channel")),
        files=[f for f in files if isinstance(f, dict)] if isinstance(files, list) else [],
        mentioned=mentioned,
    )


def strip_bot_mention(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's own `<@U…>` mention (the model needn't see its name as a token)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    return text.strip()
