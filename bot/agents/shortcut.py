""""Run as agent task" on a message: the message's text becomes the task, run in its thread."""

from __future__ import annotations

from dataclasses import dataclass

from bot.agents.start import DISABLED, CardRefused, RunRequest, start_run
from bot.controls.buttons import tell
from bot.logs import get_logger
from bot.services import Services

log = get_logger("agents.shortcut")


@dataclass(frozen=True, slots=True)
class ShortcutRequest:
    """Who ran the shortcut on which message."""

    team_id: str
    user_id: str
    channel_id: str
    message_ts: str
    thread_ts: str | None
    text: str
    response_url: str = ""


async def run_message_as_task(services: Services, req: ShortcutRequest) -> None:
    """Start an agent run on the message's text; card and result go into the message's thread."""
    thread = req.thread_ts or req.message_ts
    if not services.settings.agents_enabled:
        await tell(services, channel=req.channel_id, user=req.user_id, text=DISABLED)
        return
    if not req.text.strip():
        await tell(services, channel=req.channel_id, user=req.user_id,
                   text="That message has no text to use as a task.", thread_ts=thread)
        return
    try:
        await start_run(services, RunRequest(kind="agent", task=req.text.strip(),
                                             asker=req.user_id, team_id=req.team_id,
                                             channel=req.channel_id, thread_ts=thread))
    except CardRefused as refused:
        await tell(services, channel=req.channel_id, user=req.user_id,
                   text=f"I can't post in this conversation ({refused.error}); invite me "
                   "first with `/invite @gemini`.")
    except Exception:
        log.exception("shortcut_failed", channel=req.channel_id)
        await tell(services, channel=req.channel_id, user=req.user_id,
                   text=":warning: Starting the agent failed unexpectedly; it has been logged.")
