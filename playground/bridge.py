"""What the person in the playground does, delivered to the bot the way Slack would deliver it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.logs import get_logger
from fakes.slack import Delivery, Ephemeral, EventSender, FakeSlack, SlackError
from playground.feed import Feed

log = get_logger("playground.bridge")

MAX_TEXT = 40_000
"""Slack's limit for a message a person types."""
_BOT_MENTION = re.compile(r"(?<![\w<])@gemini\b", re.I)


class BadRequest(ValueError):
    """Something the page sent that Slack would not accept; the message says what."""


def slack_escape(text: str) -> str:
    """Escape &, < and > as Slack does in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Bridge:
    """Turns the page's posts, uploads and clicks into fake-Slack state plus signed deliveries."""

    slack: FakeSlack
    sender: EventSender
    feed: Feed
    you: str
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    # messages -----------------------------------------------------------------------------
    def post(self, channel: str, text: str, thread_ts: str | None,
             file_ids: list[str]) -> str:
        """Store the person's message, deliver its events in the background; return its ts."""
        ch = self.slack.channels.get(channel)
        if ch is None:
            raise BadRequest("There is no such channel.")
        text = text.strip()
        if not text and not file_ids:
            raise BadRequest("Type a message or attach a file.")
        if len(text) > MAX_TEXT:
            raise BadRequest(f"Messages can be at most {MAX_TEXT:,} characters.")
        unknown = [f for f in file_ids if f not in self.slack.files]
        if unknown:
            raise BadRequest("An attached file is no longer there; attach it again.")
        if text.startswith("/") and not thread_ts and not file_ids:
            self._spawn(self._command(channel, text), channel, None)
            return ""
        wire = _BOT_MENTION.sub(f"<@{self.slack.bot_user_id}>", slack_escape(text))
        try:
            ts = self.slack.post_user_message(channel, self.you, wire, thread_ts,
                                              files=list(file_ids))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        except SlackError as exc:  # e.g. invalid_thread_ts
            raise BadRequest(f"Slack refused the message ({exc.code}).") from None
        self.feed.poke()
        files = [self.slack.file_object(f) for f in file_ids] or None
        events: list[dict[str, Any]] = []
        mention = f"<@{self.slack.bot_user_id}>" in wire
        if mention and not ch.is_im:
            events.append(self.sender.app_mention(channel, self.you, wire, ts, thread_ts, files))
        events.append(self.sender.message(channel, self.you, wire, ts, thread_ts,
                                          channel_type=ch.channel_type, files=files))
        for event in events:
            self._spawn(self._deliver(event, channel, thread_ts or ts), channel, thread_ts or ts)
        return ts

    async def _deliver(self, event: dict[str, Any], channel: str, thread_ts: str) -> None:
        """Deliver one event like Slack (retrying on no answer); say so when the bot refused."""
        attempts = await self.sender.deliver(event, retry_delays_s=(0.5, 2.0, 5.0))
        last = attempts[-1]
        if not 200 <= last.status < 300:
            self.note(channel, thread_ts, f"The bot did not accept this event "
                      f"({_why(last)}); Slack would have retried {len(attempts) - 1} times.")

    async def _command(self, channel: str, text: str) -> None:
        """A slash command typed into the composer."""
        command, _, rest = text.partition(" ")
        url = self.slack.new_response_url(channel, self.you)
        result = await self.sender.send_command(command, rest.strip(), user_id=self.you,
                                                channel_id=channel, response_url=url)
        if result.status == 404:
            self.note(channel, None, f"`{command}` is not a command this app handles.")
        elif not 200 <= result.status < 300:
            self.note(channel, None, f"`{command}` failed ({_why(result)}).")
        elif result.body.strip():
            self.note(channel, None, _ack_text(result.body))

    # files --------------------------------------------------------------------------------
    def upload(self, name: str, mimetype: str | None, content: bytes) -> dict[str, Any]:
        """Keep a file the person attached (shared when the message is sent)."""
        name = name.strip() or "file"
        return self.slack.add_file(name[:255], mimetype or None, content, user=self.you)

    # clicks -------------------------------------------------------------------------------
    def click(self, channel: str, ts: str, action: dict[str, Any]) -> None:
        """Deliver a block_actions payload for a button on a message."""
        try:
            msg = self.slack.message(channel, ts)
        except SlackError:
            raise BadRequest("That message is gone.") from None
        action_id = str(action.get("action_id") or "")
        if not action_id:
            raise BadRequest("That button has no action.")
        value = action.get("value")
        thread_ts = msg.thread_ts
        payload = self.sender.block_action(
            action_id, None if value is None else str(value), user_id=self.you,
            channel_id=channel, message_ts=ts, block_id=str(action.get("block_id") or "actions"),
            thread_ts=thread_ts,
            response_url=self.slack.new_response_url(channel, self.you, message_ts=ts,
                                                     thread_ts=thread_ts),
            message=self.slack.to_json(msg), action_type=str(action.get("type") or "button"))
        self._spawn(self._send_action(payload, channel, thread_ts or ts), channel, thread_ts or ts)

    async def _send_action(self, payload: dict[str, Any], channel: str, thread_ts: str) -> None:
        result = await self.sender.send_action(payload)
        if not 200 <= result.status < 300:
            self.note(channel, thread_ts, f"The bot did not accept the click ({_why(result)}).")

    # helpers ------------------------------------------------------------------------------
    def note(self, channel: str, thread_ts: str | None, text: str) -> None:
        """Show the person a message only they see (how Slack reports delivery problems)."""
        ts = self.slack.next_ts()
        self.slack.add_ephemeral(Ephemeral(channel, self.you, ts, text, None, thread_ts, text))
        self.feed.poke()

    def _spawn(self, coro: Coroutine[Any, Any, None], channel: str,
               thread_ts: str | None) -> None:
        """Run a delivery in the background; if it cannot reach the bot, say so on the page."""

        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:
                log.warning("delivery_failed", error=type(exc).__name__)
                self.note(channel, thread_ts, f"Could not reach the bot ({type(exc).__name__}).")

        task = asyncio.get_running_loop().create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries still in flight."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def _why(result: Delivery) -> str:
    """A short reason for a failed delivery."""
    return "no answer in time" if result.status == 0 else f"HTTP {result.status}"


def _ack_text(body: str) -> str:
    """The text of a command's immediate answer (plain text or a JSON message)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    return str(data.get("text") or "") if isinstance(data, dict) else body.strip()
