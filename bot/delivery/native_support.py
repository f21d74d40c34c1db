"""What one process learned about native streaming and thread status, and the status call."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.edit_budget import UpdateBudget
from bot.logs import get_logger

log = get_logger("stream_support")

NO_NATIVE_ERRORS = frozenset({
    "missing_recipient_team_id", "missing_recipient_user_id", "channel_type_not_supported",
    "method_not_supported_for_channel_type", "not_allowed_token_type", "unknown_method",
    "missing_scope", "feature_not_enabled", "not_supported", "team_not_supported",
})
"""chat.startStream errors meaning "not here": the channel (or workspace) uses edit streaming."""

WORKSPACE_WIDE_ERRORS = frozenset({"not_allowed_token_type", "unknown_method", "missing_scope"})
"""Errors that hold for every channel, not just the one that produced them."""

TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})

APPENDS_PER_MINUTE = 100
"""chat.appendStream is Tier 4 (100+ a minute per workspace)."""

_ALL = "*"


class StreamSupport:
    """Per-process memory of channels where native streaming or thread status is unavailable.

    Remembered for `ttl_s`, so an app that gains the feature later starts using it again.
    """

    def __init__(self, ttl_s: float = 3600.0) -> None:
        self.ttl_s = ttl_s
        self.append_budget = UpdateBudget(APPENDS_PER_MINUTE)
        self._no_native: dict[str, float] = {}
        self._no_status: dict[str, float] = {}

    def native_ok(self, channel: str) -> bool:
        """Whether native streaming is worth trying in `channel`."""
        return not _remembered(self._no_native, channel)

    def status_ok(self, channel: str) -> bool:
        """Whether assistant.threads.setStatus is worth trying in `channel`."""
        return not _remembered(self._no_status, channel)

    def no_native(self, channel: str, error: str) -> None:
        """Remember that chat.startStream failed with `error` (only "not here" errors count)."""
        if error in NO_NATIVE_ERRORS:
            key = _ALL if error in WORKSPACE_WIDE_ERRORS else channel
            self._no_native[key] = time.monotonic() + self.ttl_s
            log.info("native_streaming_unavailable", channel=channel, error=error)

    def no_status(self, channel: str, error: str) -> None:
        """Remember that setStatus failed with `error` (transient errors don't count)."""
        if error not in TRANSIENT_ERRORS:
            key = _ALL if error in WORKSPACE_WIDE_ERRORS else channel
            self._no_status[key] = time.monotonic() + self.ttl_s
            log.info("thread_status_unavailable", channel=channel, error=error)


STATUS_CHARS = 150


def assistant_status(text: str) -> str:
    """Status line → Slack's "<app> is …" form: "Searching…" becomes "is searching…"."""
    text = " ".join(text.strip().strip("_").split())
    if len(text) > STATUS_CHARS:
        text = text[: STATUS_CHARS - 1].rstrip() + "…"
    return "is " + text[:1].lower() + text[1:] if text else ""


def _remembered(table: dict[str, float], channel: str) -> bool:
    now = time.monotonic()
    return any(table.get(key, 0.0) > now for key in (channel, _ALL))


def slack_error(exc: SlackApiError) -> str:
    """The `error` code of a Slack API failure ("ratelimited" for an HTTP 429)."""
    if getattr(exc.response, "status_code", None) == 429:
        return "ratelimited"
    return str(exc.response.get("error") or "unknown_error")


async def set_thread_status(client: AsyncWebClient, support: StreamSupport, channel: str,
                            thread_ts: str, status: str) -> bool:
    """Show (or with "" clear) the thread's "is thinking…" status; False when Slack refused."""
    if not support.status_ok(channel):
        return False
    try:
        await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts,
                                                 status=status)
    except SlackApiError as exc:
        error = slack_error(exc)
        support.no_status(channel, error)
        log.info("thread_status_failed", channel=channel, error=error)
        return False
    except Exception:
        log.warning("thread_status_failed", channel=channel, exc_info=True)
        return False
    return True
