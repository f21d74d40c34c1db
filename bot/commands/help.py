"""`/gemini help` (and `/gemini` alone): how to use the command, shown only to the asker."""

from __future__ import annotations

from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand, usage_text
from bot.services import Services


async def show_help(services: Services, req: CommandRequest) -> None:
    """Reply with the usage of every subcommand."""
    await reply_privately(services, req, usage_text(req.command or "/gemini"))


SUBCOMMANDS = [Subcommand("help", "help", "this help", show_help)]
