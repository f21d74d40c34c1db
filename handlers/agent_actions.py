"""The Cancel button on a background run's status card (`block_actions`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.agents.cancel import on_cancel
from bot.agents.card import CANCEL
from bot.controls.buttons import BadControl, parse_click
from bot.logs import get_logger
from bot.services import Services

log = get_logger("handlers.agent_actions")


def register(app: AsyncApp, services: Services) -> None:
    """Listen for Cancel clicks; ack at once, cancel in a background task."""

    @app.action(CANCEL)
    async def handle(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            click = parse_click(body, action)
        except BadControl as why:
            log.warning("bad_click", action=CANCEL, reason=str(why))
            return
        if not click.value:
            log.warning("bad_click", action=CANCEL, reason="no run id")
            return
        services.spawn(on_cancel(services, click),
                       name=f"control-agent-cancel-{click.channel_id}-{click.action_ts}")
