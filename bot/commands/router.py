"""Routes `/gemini <word> …` to the subcommand named by its first word; usage on anything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.logs import get_logger
from bot.services import Services

log = get_logger("commands")

Run = Callable[[Services, CommandRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One `/gemini` subcommand: its word, how to use it, what it does, and the code that runs."""

    word: str
    usage: str
    summary: str
    run: Run


def subcommands() -> dict[str, Subcommand]:
    """Every subcommand by word (each capability's module lists its own)."""
    from bot.commands import agent as agent_commands
    from bot.commands import ask, catchup, digest, image
    from bot.commands import help as help_command

    table: dict[str, Subcommand] = {}
    for module in (ask, image, digest, catchup, agent_commands, help_command):
        for sub in module.SUBCOMMANDS:
            table[sub.word] = sub
    return table


DEFAULT_WORD = "ask"
"""What `/gemini <anything else>` means, once registered: ask Gemini that question."""


async def run_command(services: Services, req: CommandRequest) -> None:
    """Run the subcommand the request names; a reply names the problem when it cannot."""
    table = subcommands()
    word = req.word
    sub = table.get(word) if word else table["help"]
    if sub is None:
        sub = table.get(DEFAULT_WORD) or table["help"]
    # The resolved subcommand, never the first word: for a question that is message text.
    log.info("command_received", command=req.command, subcommand=sub.word,
             channel=req.channel_id, user=req.user_id)
    try:
        await sub.run(services, req)
    except Exception:
        log.exception("command_failed", subcommand=sub.word)
        await reply_privately(services, req, f":warning: `{req.command} {sub.word}` failed "
                              "unexpectedly; it has been logged. Please try again.")


def usage_text(command: str = "/gemini") -> str:
    """The help text: one line per subcommand."""
    lines = [f"*{command}* — Gemini in Slack. Usage:"]
    for sub in subcommands().values():
        lines.append(f"• `{command} {sub.usage}` — {sub.summary}")
    return "\n".join(lines)
