"""A `/gemini` invocation parsed from Slack's slash-command payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadCommand(ValueError):
    """The payload lacks what every command needs (who, where, how to answer)."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """Who ran the command, where, with what text, and how to answer them."""

    team_id: str
    channel_id: str
    user_id: str
    command: str
    text: str
    response_url: str
    trigger_id: str = ""
    channel_name: str = ""

    @property
    def word(self) -> str:
        """The subcommand: the first word of the text, lower-cased ("" when there is none)."""
        parts = self.text.split(maxsplit=1)
        return parts[0].lower() if parts else ""

    @property
    def rest(self) -> str:
        """The text after the subcommand word, stripped."""
        parts = self.text.split(maxsplit=1)
        return parts[1].strip() if len(parts) > 1 else ""

    @property
    def is_dm(self) -> bool:
        """Run in a direct message (channel ids of DMs start with D)."""
        return self.channel_id.startswith("D")


def parse_command(body: dict[str, Any]) -> CommandRequest:
    """The request in a slash-command payload; BadCommand when a required field is missing."""
    fields = {name: str(body.get(name) or "") for name in (
        "team_id", "channel_id", "user_id", "command", "text", "response_url", "trigger_id",
        "channel_name")}
    missing = [n for n in ("team_id", "channel_id", "user_id", "command") if not fields[n]]
    if missing:
        raise BadCommand(f"slash command payload without {', '.join(missing)}")
    fields["text"] = fields["text"].strip()
    return CommandRequest(**fields)
