"""Mentions and messages: the events that start or continue a thread's conversation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.digests.recording import record_event
from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import IncomingMessage, NotATurn, parse_message_event
from bot.threads.turns import accept_message

log = get_logger("handlers.messages")


def register(app: AsyncApp, services: Services) -> None:
    """Listen for `app_mention` and `message.*` events."""

    async def journal_first(body: dict[str, Any], context: AsyncBoltContext,
                            next: Callable[[], Awaitable[None]]) -> None:
        """Before the ack: a message that may be a turn is journaled (bot/journal.py)."""
        msg = _turn_of(body)
        if msg is not None:
            context["turn"] = msg
            if services.journal is not None:
                context["held"] = services.journal.hold(msg.idempotency_key, msg.to_payload())
        await next()

    async def on_event(event: dict[str, Any], body: dict[str, Any],
                       context: AsyncBoltContext) -> None:
        # This listener runs in a task of its own: the turn's logs carry the event id.
        structlog.contextvars.bind_contextvars(event_id=str(body.get("event_id") or ""))
        msg: IncomingMessage | None = context.get("turn")
        if msg is not None:
            services.spawn(accept_message(services, msg, held=context.get("held")),
                           name=f"turn-{msg.channel_id}-{msg.ts}")
        if event.get("type") == "message":  # digests: record scheduled channels (edits too)
            await record_event(services, event, str(body.get("team_id", "")))

    @app.event("app_mention", middleware=[journal_first])
    async def handle_mention(event: dict[str, Any], body: dict[str, Any],
                             context: AsyncBoltContext) -> None:
        await on_event(event, body, context)

    @app.event("message", middleware=[journal_first])
    async def handle_message(event: dict[str, Any], body: dict[str, Any],
                             context: AsyncBoltContext) -> None:
        await on_event(event, body, context)


def _turn_of(body: dict[str, Any]) -> IncomingMessage | None:
    """The message an event delivers if it may be a turn for the bot, else None."""
    event = body.get("event") or {}
    mentioned = event.get("type") == "app_mention"
    try:
        msg = parse_message_event(event, team_id=str(body.get("team_id", "")),
                                  mentioned=mentioned)
    except NotATurn as why:
        # Malformed events cannot be answered (no channel to answer in): log them loudly.
        report = log.warning if why.malformed else log.debug
        report("not_a_turn", reason=str(why), event_id=body.get("event_id"))
        return None
    if not mentioned and not msg.is_dm and not msg.in_existing_thread:
        return None  # top-level channel chatter; mentions arrive as app_mention
    return msg
