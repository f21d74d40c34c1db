"""The `/gemini` slash command: ack at once, then run the subcommand in the background."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.commands.request import BadCommand, parse_command
from bot.commands.router import run_command
from bot.logs import get_logger
from bot.services import Services

log = get_logger("handlers.commands")

COMMAND = "/gemini"


def register(app: AsyncApp, services: Services) -> None:
    """Listen for `/gemini` (HTTP and Socket Mode alike)."""

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            req = parse_command(body)
        except BadCommand as why:
            log.warning("bad_command", reason=str(why))
            return
        services.spawn(run_command(services, req),
                       name=f"command-{req.channel_id}-{req.trigger_id or req.user_id}")
