"""Answers only the person who ran a command sees: through `response_url`, else postEphemeral."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands.request import CommandRequest
from bot.logs import get_logger
from bot.services import Services

log = get_logger("commands.replies")


async def reply_privately(services: Services, req: CommandRequest, text: str,
                          blocks: list[dict[str, Any]] | None = None) -> bool:
    """Show `text` (and `blocks`) to the command's user only; False when Slack refused both ways.

    `response_url` works even where the bot is not a member (it allows 5 uses in 30 minutes);
    `chat.postEphemeral` is the fallback when it is missing, expired or used up.
    """
    if req.response_url:
        webhook = AsyncWebhookClient(req.response_url, timeout=10)
        try:
            resp = await webhook.send(text=text, blocks=blocks, response_type="ephemeral")
            if resp.status_code == 200:
                return True
            log.warning("response_url_refused", status=resp.status_code, body=resp.body[:200])
        except Exception as exc:
            log.warning("response_url_failed", error=type(exc).__name__)
    try:
        await services.slack.chat_postEphemeral(channel=req.channel_id, user=req.user_id,
                                                text=text, blocks=blocks)
        return True
    except SlackApiError as exc:
        log.warning("ephemeral_refused", channel=req.channel_id, error=exc.response.get("error"))
        return False
