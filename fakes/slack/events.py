"""Inbound side: signed Events API, slash command and interactivity posts, as Slack sends them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


class Delivery(NamedTuple):
    """What the bot answered to one delivery (status 0 = no answer before the timeout)."""

    status: int
    body: str
    headers: dict[str, str]
    elapsed_s: float


def _trigger_id() -> str:
    """A trigger_id shaped like Slack's."""
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


class EventSender:
    """Sends signed requests to a bot's request URL the way Slack does."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        team_id: str = "T1",
        api_app_id: str = "A1",
        bot_user_id: str = "UBOT",
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.timeout_s = timeout_s
        self.sent: list[tuple[str, Delivery]] = []

    # transport -----------------------------------------------------------------------------
    def sign(
        self, body: str, timestamp: int | None = None, signing_secret: str | None = None
    ) -> dict[str, str]:
        """The X-Slack-Request-Timestamp / X-Slack-Signature headers for exactly this body."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(signing_secret or self.signing_secret)
        signature = verifier.generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        url: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Delivery:
        """POST one signed body; a timeout comes back as status 0."""
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        headers.update(self.sign(body, timestamp, signing_secret))
        headers.update(extra_headers or {})
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        start = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url or self.url, data=body.encode(), headers=headers) as resp,
            ):
                text = await resp.text()
                result = Delivery(resp.status, text, dict(resp.headers), time.monotonic() - start)
        except TimeoutError:
            result = Delivery(0, "", {}, time.monotonic() - start)
        self.sent.append((body, result))
        return result

    # Events API ----------------------------------------------------------------------------
    def envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """The event_callback body wrapping one event."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    async def send_event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
        signing_secret: str | None = None,
    ) -> Delivery:
        """Deliver one event once (with retry headers when retry_num is given)."""
        body = json.dumps(self.envelope(event, event_id))
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self.post(
            body, "application/json", timestamp=timestamp, signing_secret=signing_secret,
            extra_headers=extra,
        )

    async def deliver(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        ack_timeout_s: float = 3.0,
        max_retries: int = 3,
        retry_delays_s: tuple[float, ...] = (0.0, 0.0, 0.0),
    ) -> list[Delivery]:
        """Deliver like Slack: retry (same event_id) on no 2xx within ack_timeout_s."""
        # Real Slack waits ~0 s, ~1 min and ~5 min between retries; tests pass shorter delays.
        # A non-2xx answer carrying `X-Slack-No-Retry: 1` stops the retries.
        body = json.dumps(self.envelope(event, event_id))
        attempts: list[Delivery] = []
        reason = ""
        for attempt in range(max_retries + 1):
            extra = {}
            if attempt:
                extra = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": reason}
            result = await self.post(body, "application/json", extra_headers=extra,
                                     timeout_s=ack_timeout_s)
            attempts.append(result)
            if 200 <= result.status < 300 or result.headers.get("X-Slack-No-Retry") == "1":
                break
            reason = "http_timeout" if result.status == 0 else "http_error"
            if attempt < max_retries:
                delays = retry_delays_s or (0.0,)
                await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
        return attempts

    async def send_url_verification(self, challenge: str = "challenge-token") -> Delivery:
        """Send the url_verification handshake."""
        body = json.dumps({"token": "verification-token", "challenge": challenge,
                           "type": "url_verification"})
        return await self.post(body, "application/json")

    # event builders ------------------------------------------------------------------------
    def _base_message(
        self, channel: str, user: str, text: str, ts: str, thread_ts: str | None,
        files: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """Fields shared by app_mention and message events."""
        section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
        event: dict[str, Any] = {
            "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
            "team": self.team_id, "client_msg_id": str(uuid.uuid4()),
            "blocks": [{"type": "rich_text", "block_id": uuid.uuid4().hex[:5],
                        "elements": [section]}],
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event["files"] = files
            event["upload"] = False
        return event

    def app_mention(
        self, channel: str, user: str, text: str, ts: str, thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """An app_mention event."""
        return {"type": "app_mention", **self._base_message(channel, user, text, ts, thread_ts,
                                                            files)}

    def message(
        self, channel: str, user: str, text: str, ts: str, thread_ts: str | None = None,
        channel_type: str = "channel", subtype: str | None = None, bot_id: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A message event (files imply subtype file_share, as Slack sends it)."""
        event = {"type": "message", **self._base_message(channel, user, text, ts, thread_ts,
                                                         files)}
        event["channel_type"] = channel_type
        subtype = subtype or ("file_share" if files else None)
        if subtype:
            event["subtype"] = subtype
        if bot_id:
            event["bot_id"] = bot_id
            event.pop("client_msg_id", None)
        return event

    def message_changed(
        self, channel: str, previous: dict[str, Any], text: str, *,
        channel_type: str = "channel",
    ) -> dict[str, Any]:
        """The hidden `message_changed` event for an edit (`previous`: the old wire message)."""
        ts = f"{time.time():.6f}"
        edited = {**previous, "text": text, "edited": {"user": previous.get("user"), "ts": ts}}
        return {"type": "message", "subtype": "message_changed", "hidden": True,
                "channel": channel, "channel_type": channel_type, "ts": ts, "event_ts": ts,
                "message": edited, "previous_message": previous}

    def message_deleted(
        self, channel: str, previous: dict[str, Any], *, channel_type: str = "channel",
    ) -> dict[str, Any]:
        """The hidden `message_deleted` event for a deleted message."""
        ts = f"{time.time():.6f}"
        return {"type": "message", "subtype": "message_deleted", "hidden": True,
                "channel": channel, "channel_type": channel_type, "ts": ts, "event_ts": ts,
                "deleted_ts": previous.get("ts"), "previous_message": previous}

    # commands and interactivity ------------------------------------------------------------
    def command_payload(
        self, command: str = "/ask", text: str = "", user_id: str = "U1",
        channel_id: str = "C1", response_url: str | None = None, *,
        trigger_id: str | None = None, **extra: str,
    ) -> dict[str, str]:
        """A slash-command payload (form fields over HTTP, the envelope payload in Socket Mode)."""
        return {
            "token": "verification-token", "team_id": self.team_id, "team_domain": "fake-team",
            "channel_id": channel_id, "channel_name": channel_id.lower(), "user_id": user_id,
            "user_name": user_id.lower(), "command": command, "text": text,
            "api_app_id": self.api_app_id, "is_enterprise_install": "false",
            "response_url": response_url or "", "trigger_id": trigger_id or _trigger_id(),
            **extra,
        }

    async def send_command(
        self, command: str = "/ask", text: str = "", user_id: str = "U1",
        channel_id: str = "C1", response_url: str | None = None, *,
        trigger_id: str | None = None, url: str | None = None, **extra: str,
    ) -> Delivery:
        """Send a signed, form-encoded slash command."""
        form = self.command_payload(command, text, user_id, channel_id, response_url,
                                    trigger_id=trigger_id, **extra)
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", url=url)

    async def send_action(self, payload: dict[str, Any], *, url: str | None = None) -> Delivery:
        """Send a signed interactivity payload (`payload=<json>`)."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", url=url)

    def block_action(
        self, action_id: str, value: str | None = None, *, user_id: str = "U1",
        channel_id: str = "C1", message_ts: str = "", block_id: str = "actions",
        thread_ts: str | None = None, response_url: str | None = None,
        message: dict[str, Any] | None = None, action_type: str = "button",
    ) -> dict[str, Any]:
        """A block_actions payload for a click on a message (a button, or `feedback_buttons`)."""
        container: dict[str, Any] = {"type": "message", "message_ts": message_ts,
                                     "channel_id": channel_id, "is_ephemeral": False}
        if thread_ts:
            container["thread_ts"] = thread_ts
        action: dict[str, Any] = {
            "type": action_type, "action_id": action_id, "block_id": block_id,
            "text": {"type": "plain_text", "text": action_id},
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        return {
            "type": "block_actions", "api_app_id": self.api_app_id, "token": "verification-token",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(),
                     "team_id": self.team_id},
            "team": {"id": self.team_id, "domain": "fake-team"}, "enterprise": None,
            "is_enterprise_install": False, "container": container, "trigger_id": _trigger_id(),
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "message": message or {"type": "message", "ts": message_ts, "text": "",
                                   **({"thread_ts": thread_ts} if thread_ts else {})},
            "state": {"values": {}}, "response_url": response_url or "", "actions": [action],
        }

    def message_shortcut(
        self, callback_id: str, *, user_id: str = "U1", channel_id: str = "C1",
        message_ts: str = "", text: str = "", message_user: str = "U1",
        thread_ts: str | None = None, response_url: str | None = None,
    ) -> dict[str, Any]:
        """A message_action (message shortcut) payload."""
        message: dict[str, Any] = {"type": "message", "ts": message_ts, "text": text,
                                   "user": message_user}
        if thread_ts:
            message["thread_ts"] = thread_ts
        return {
            "type": "message_action", "callback_id": callback_id, "token": "verification-token",
            "trigger_id": _trigger_id(), "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": "fake-team"},
            "user": {"id": user_id, "name": user_id.lower(), "team_id": self.team_id},
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "is_enterprise_install": False, "enterprise": None, "message_ts": message_ts,
            "message": message, "response_url": response_url or "",
        }
