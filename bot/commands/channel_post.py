"""Posting a command's root message in the channel it was run in (joining public channels)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.digests.posting import join
from bot.logs import get_logger
from bot.services import Services

log = get_logger("commands.channel_post")

CANNOT_POST = ("I can't post in this conversation (a private channel I'm not in, or a direct "
               "message between people). Invite me with `/invite @gemini`, or ask me in a "
               "channel I'm in or in a direct message with me.")


def escape(text: str) -> str:
    """Someone's text shown in mrkdwn as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def post_root(services: Services, req: CommandRequest, text: str, *,
                    tell: bool = True) -> str | None:
    """Post `text` as a new top-level message where the command ran; its ts, or None (after
    telling the asker privately why it could not be posted, unless `tell` is False)."""
    for attempt in (1, 2):
        try:
            resp = await services.slack.chat_postMessage(channel=req.channel_id, text=text,
                                                         unfurl_links=False)
            return str(resp["ts"])
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.info("command_post_refused", channel=req.channel_id, error=error)
            if attempt == 1 and error == "not_in_channel" and await join(services,
                                                                       req.channel_id):
                continue
            break
    if tell:
        await reply_privately(services, req, f":no_entry: {CANNOT_POST}")
    return None
