"""A person's running and recent runs: task, status, elapsed time, a link to each card."""

from __future__ import annotations

from typing import Any

from bot.agents.card import permalink
from bot.agents.record import elapsed_s, format_duration, user_runs
from bot.rendering import to_mrkdwn
from bot.services import Services

LIMIT = 10
TASK_CHARS = 80
_SHOWN = {"queued": "starting", "running": "running", "completed": "done",
          "start_failed": "could not start", "expired": "stopped (too long)"}


async def runs_listing(services: Services, user: str) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks) listing `user`'s latest runs, running ones first."""
    runs = await user_runs(services, user, LIMIT)
    if not runs:
        text = ("You have no agent runs yet. Start one with `/gemini agent <task>` or "
                "`/gemini research <question>`.")
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    runs.sort(key=lambda r: (r.get("status") not in ("queued", "running"),
                             -float(r.get("created_at") or 0)))
    lines = []
    for run in runs:
        task = " ".join(str(run.get("task") or "").split())
        if len(task) > TASK_CHARS:
            task = task[: TASK_CHARS - 1] + "…"
        status = _SHOWN.get(str(run.get("status")), str(run.get("status")))
        link = await permalink(services, run["channel"], run.get("card_ts"))
        where = f" · <{link}|open>" if link else ""
        lines.append(f"• *{status}* · {format_duration(elapsed_s(run))} · "
                     f"{to_mrkdwn(task)}{where}")
    running = sum(1 for r in runs if r.get("status") in ("queued", "running"))
    head = f"*Your agent runs* ({running} running, latest {len(runs)} shown)"
    text = head + "\n" + "\n".join(lines)
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
