"""Builds what the model receives for a turn: who said what, plus the thread so far once."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from bot.logs import get_logger
from bot.services import Services
from bot.threads.files import FileInputs
from bot.threads.messages import IncomingMessage, strip_bot_mention

SEED_LIMIT = 1000

log = get_logger("inputs")


def turn_input(services: Services, msg: IncomingMessage, seed: str | None,
               files: FileInputs | None = None) -> list[dict[str, Any]]:
    """The user content for this turn: who said what, its files, and (once) the thread so far."""
    said = strip_bot_mention(msg.text, services.bot_user_id)
    said = said or ("(sent the attached files without text)" if msg.files else "(no text)")
    text = f"<@{msg.user_id}>: {said}"
    if seed:
        text = (f"Earlier messages in this Slack thread, for context:\n{seed}\n\n"
                f"New message:\n{text}")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if files is not None:
        blocks += files.blocks
        note = files.model_note()
        if note:
            blocks.append({"type": "text", "text": note})
    return blocks


async def thread_context(services: Services, msg: IncomingMessage) -> str | None:
    """The thread's earlier messages as 'author: text' lines (one conversations.replies read).

    Best effort: if Slack refuses (missing scope, rate limit), the turn goes on without it.
    """
    try:
        resp = await services.slack.conversations_replies(
            channel=msg.channel_id, ts=msg.reply_thread_ts, limit=SEED_LIMIT
        )
    except SlackApiError as exc:
        log.warning("thread_context_unavailable", channel=msg.channel_id,
                    error=exc.response.get("error"))
        return None
    lines = []
    for m in resp.get("messages", []):
        if m.get("ts") == msg.ts or float(m.get("ts", 0)) > float(msg.ts):
            continue
        if m.get("subtype") not in (None, "file_share", "thread_broadcast", "bot_message"):
            continue
        author = "you (the bot)" if m.get("user") == services.bot_user_id else (
            f"<@{m['user']}>" if m.get("user") else str(m.get("username") or "a bot"))
        text = strip_bot_mention(str(m.get("text") or ""), services.bot_user_id)
        names = [str(f.get("name") or "a file") for f in m.get("files") or []
                 if isinstance(f, dict)]
        if names:
            text = f"{text} [shared files, not included: {', '.join(names)}]".strip()
        if text:
            lines.append(f"{author}: {text}")
    return "\n".join(lines) or None
