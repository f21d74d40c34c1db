"""Mentions and messages: the events that start or continue a thread's conversation."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.digests.recording import record_event
from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import NotATurn, parse_message_event
from bot.threads.turns import accept_message

log = get_logger("handlers.messages")


def register(app: AsyncApp, services: Services) -> None:
    """Listen for `app_mention` and `message.*` events."""

    async def on_event(event: dict[str, Any], body: dict[str, Any], mentioned: bool) -> None:
        if not mentioned:  # digests: record scheduled channels (edits and deletes too)
            await record_event(services, event, str(body.get("team_id", "")))
        try:
            msg = parse_message_event(event, team_id=str(body.get("team_id", "")),
                                      mentioned=mentioned)
        except NotATurn as why:
            # Malformed events cannot be answered (no channel to answer in): log them loudly.
            report = log.warning if why.malformed else log.debug
            report("not_a_turn", reason=str(why), event_id=body.get("event_id"))
            return
        if not mentioned and not msg.is_dm and not msg.in_existing_thread:
            return  # top-level channel chatter; mentions arrive as app_mention
        services.spawn(accept_message(services, msg), name=f"turn-{msg.channel_id}-{msg.ts}")

    @app.event("app_mention")
    async def handle_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        await on_event(event, body, mentioned=True)

    @app.event("message")
    async def handle_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        await on_event(event, body, mentioned=False)
