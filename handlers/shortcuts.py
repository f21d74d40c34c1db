"""Message shortcuts: "Run as agent task" on any message (`message_action`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.agents.shortcut import ShortcutRequest, run_message_as_task
from bot.logs import get_logger
from bot.services import Services

log = get_logger("handlers.shortcuts")

RUN_AS_AGENT_TASK = "run_as_agent_task"


def register(app: AsyncApp, services: Services) -> None:
    """Listen for the shortcut; ack at once, start the run in a background task."""

    @app.shortcut(RUN_AS_AGENT_TASK)
    async def handle(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        ts = message.get("ts") or body.get("message_ts")
        if not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str)):
            log.warning("bad_shortcut", reason="no user, channel or message")
            return
        req = ShortcutRequest(
            team_id=str((body.get("team") or {}).get("id") or ""), user_id=user,
            channel_id=channel, message_ts=ts, thread_ts=message.get("thread_ts"),
            text=str(message.get("text") or ""), response_url=str(body.get("response_url") or ""))
        services.spawn(run_message_as_task(services, req), name=f"command-shortcut-{channel}-{ts}")
