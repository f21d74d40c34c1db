"""`/gemini catchup`: what happened here since you last wrote (or in 24 h), only for you."""

from __future__ import annotations

from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.digests.on_demand import catchup
from bot.services import Services


async def run_catchup(services: Services, req: CommandRequest) -> None:
    """Summarise privately for the asker."""
    if req.rest:
        await reply_privately(services, req, "`/gemini catchup` takes no arguments.")
        return
    text, blocks = await catchup(services, req.team_id, req.channel_id, req.user_id)
    await reply_privately(services, req, text, blocks)


SUBCOMMANDS = [Subcommand("catchup", "catchup",
                          "a private summary of what you missed in this channel", run_catchup)]
