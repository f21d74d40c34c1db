"""The status card of a background run: who asked, the task, status, elapsed time, Cancel."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.agents.record import elapsed_s, format_duration, label
from bot.logs import get_logger
from bot.rendering import to_mrkdwn
from bot.services import Services

log = get_logger("agents.card")

CANCEL = "agent_cancel"
"""action_id of the Cancel button (its value is the run id)."""
TASK_CHARS = 600
CARD_EDIT_EVERY_S = 60.0
"""A running card is edited at most this often (elapsed time, what the run reports)."""

_STATUS = {
    "queued": ":hourglass_flowing_sand: Starting…",
    "running": ":hourglass_flowing_sand: Running",
    "completed": ":white_check_mark: Done",
    "failed": ":x: Failed",
    "start_failed": ":x: Could not start",
    "cancelled": ":no_entry_sign: Cancelled",
    "expired": ":alarm_clock: Stopped: ran too long",
    "lost": ":grey_question: Lost by Gemini",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_message(record: dict[str, Any], *, result_link: str | None = None,
                 now: float | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of the card for the record as it is now."""
    status = str(record.get("status"))
    shown = _STATUS.get(status, f":grey_question: {status}")
    what = label(record).capitalize()
    elapsed = format_duration(elapsed_s(record, now))
    quoted = "\n".join(f"> {line}" for line in to_mrkdwn(_clip(str(record["task"]), TASK_CHARS))
                       .splitlines() or [""])
    head = f"*{what}* from <@{record['asker']}>\n{quoted}"
    line = f"*Status:* {shown} · {elapsed}"
    if status == "cancelled" and record.get("cancelled_by"):
        line += f" · cancelled by <@{record['cancelled_by']}>"
    if result_link:
        line += f" · <{result_link}|See the result>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(head, 2900)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]},
    ]
    progress = str(record.get("progress") or "")
    if status in ("queued", "running") and progress:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _clip(f"_{progress}_", 2900)}]})
    if status in ("queued", "running") and not record.get("cancelled_by"):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "action_id": CANCEL, "value": str(record["run_id"]),
            "style": "danger", "text": {"type": "plain_text", "text": "Cancel"},
            "confirm": {
                "title": {"type": "plain_text", "text": "Cancel this run?"},
                "text": {"type": "plain_text", "text": "Gemini stops working on it."},
                "confirm": {"type": "plain_text", "text": "Cancel run"},
                "deny": {"type": "plain_text", "text": "Keep running"},
            },
        }]})
    text = f"{what} from <@{record['asker']}>: {shown.split(' ', 1)[-1]} ({elapsed})"
    return text, blocks


async def post_card(services: Services, record: dict[str, Any]) -> str:
    """Post the card (root message, or into the run's thread); its ts."""
    text, blocks = card_message(record)
    resp = await services.slack.chat_postMessage(channel=record["channel"],
                                                 thread_ts=record.get("thread_ts"),
                                                 text=text, blocks=blocks)
    return str(resp["ts"])


async def show_card(services: Services, record: dict[str, Any], *,
                    result_link: str | None = None, interim: bool = False) -> bool:
    """Edit the card to show the record's state; False when Slack refused (logged).

    An `interim` edit (elapsed time while running) is only made when the workspace's edit
    budget has room now, through the client that doesn't wait out 429s: with many runs going
    their cards fall behind rather than delay polls or answers.
    """
    if not record.get("card_ts"):
        return False
    text, blocks = card_message(record, result_link=result_link)
    client = services.slack_interim if interim else services.slack
    if interim:
        if not await services.budget.try_take():
            return False
    else:
        await services.budget.take()
    try:
        await client.chat_update(channel=record["channel"], ts=record["card_ts"],
                                 text=text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("card_update_failed", run=record["run_id"], error=exc.response.get("error"))
        return False
    return True


def card_due(record: dict[str, Any], now: float | None = None) -> bool:
    """Whether a running card should be refreshed now (about once a minute)."""
    now = time.time() if now is None else now
    return now - float(record.get("card_edited_at") or 0) >= CARD_EDIT_EVERY_S


async def permalink(services: Services, channel: str, ts: str | None) -> str | None:
    """A link to a message, or None."""
    if not ts:
        return None
    try:
        resp = await services.slack.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as exc:
        log.info("permalink_failed", error=exc.response.get("error"))
        return None
    return str(resp.get("permalink") or "") or None
