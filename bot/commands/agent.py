"""`/gemini agent <task>`, `/gemini research <question>`, `/gemini agents`."""

from __future__ import annotations

from bot.agents.listing import runs_listing
from bot.agents.start import DISABLED, CardRefused, RunRequest, start_run
from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.services import Services

NOT_IN_CHANNEL = ("I can't post in this conversation ({error}). Invite me first "
                  "(`/invite @gemini`), or run the command in a channel I'm in.")


async def _start(services: Services, req: CommandRequest, kind: str, example: str) -> None:
    if not services.settings.agents_enabled:
        await reply_privately(services, req, DISABLED)
        return
    if not req.rest:
        await reply_privately(services, req, f"Tell me what to do: `{req.command} {example}`.")
        return
    try:
        await start_run(services, RunRequest(kind=kind, task=req.rest, asker=req.user_id,
                                             team_id=req.team_id, channel=req.channel_id))
    except CardRefused as refused:
        await reply_privately(services, req, NOT_IN_CHANNEL.format(error=refused.error))


async def start_agent(services: Services, req: CommandRequest) -> None:
    """Start a managed agent run; its card is posted in the channel, its result in its thread."""
    await _start(services, req, "agent", "agent write a script that lists our open PRs")


async def start_research(services: Services, req: CommandRequest) -> None:
    """Start a deep-research run."""
    await _start(services, req, "research", "research how do EU AI Act duties phase in?")


async def list_runs(services: Services, req: CommandRequest) -> None:
    """Show the asker's running and recent runs (only to them)."""
    text, blocks = await runs_listing(services, req.user_id)
    await reply_privately(services, req, text, blocks)


SUBCOMMANDS = [
    Subcommand("agent", "agent <task>", "a managed agent works on the task in the background; "
               "the result lands in the card's thread", start_agent),
    Subcommand("research", "research <question>", "deep research in the background, result in "
               "the card's thread", start_research),
    Subcommand("agents", "agents", "your running and recent agent runs", list_runs),
]
