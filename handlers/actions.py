"""Answer buttons: Stop, Regenerate and 👍/👎 clicks (`block_actions`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.controls.buttons import FEEDBACK, REGENERATE, STOP, BadControl, Click, parse_click
from bot.controls.clicks import on_feedback, on_regenerate, on_stop
from bot.logs import get_logger
from bot.services import Services

log = get_logger("handlers.actions")

OnClick = Callable[[Services, Click], Awaitable[None]]


def register(app: AsyncApp, services: Services) -> None:
    """Listen for the answer control buttons; ack at once, act in a background task."""

    def listener(on_click: OnClick, task_prefix: str) -> Callable[..., Awaitable[None]]:
        async def handle(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            try:
                click = parse_click(body, action)
            except BadControl as why:
                log.warning("bad_click", action=action.get("action_id"), reason=str(why))
                return
            services.spawn(on_click(services, click),
                           name=f"{task_prefix}-{click.channel_id}-{click.action_ts}")

        return handle

    app.action(STOP)(listener(on_stop, "control-stop"))
    app.action(REGENERATE)(listener(on_regenerate, "turn-regenerate"))
    app.action(FEEDBACK)(listener(on_feedback, "control-feedback"))
