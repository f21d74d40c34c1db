"""`/gemini digest now|daily|weekly|list|off`: channel digests, now or on a schedule."""

from __future__ import annotations

from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.digests.on_demand import WINDOWS, digest_now, postable_problem, user_zone
from bot.digests.schedule import RuleError, local_time, parse_rule
from bot.digests.schedules import list_schedules, remove_schedule, save_schedule
from bot.services import Services

FORMS = ("`/gemini digest now [24h|7d]` · `/gemini digest daily HH:MM [zone]` · "
         "`/gemini digest weekly <weekday> HH:MM [zone]` · `/gemini digest list` · "
         "`/gemini digest off`")


async def digest(services: Services, req: CommandRequest) -> None:
    """Dispatch on the word after `digest`."""
    words = req.rest.split()
    action = words[0].lower() if words else ""
    if action == "now":
        await _now(services, req, words[1:])
    elif action in ("daily", "weekly"):
        await _schedule(services, req, action, words[1:])
    elif action == "list" and len(words) == 1:
        await _list(services, req)
    elif action == "off" and len(words) == 1:
        removed = await remove_schedule(services, req.team_id, req.channel_id)
        await reply_privately(services, req, "Removed this channel's digest schedule; its "
                              "recorded messages are deleted." if removed else
                              "This channel has no digest schedule.")
    else:
        what = f"`{action}` is not a digest command." if action else "Say what to do."
        await reply_privately(services, req, f"{what} Use one of: {FORMS}")


async def _now(services: Services, req: CommandRequest, words: list[str]) -> None:
    window = words[0].lower() if words else "24h"
    if len(words) > 1 or window not in WINDOWS:
        await reply_privately(services, req, f"`{' '.join(words)}` is not a digest window. "
                              "Use `/gemini digest now [24h|7d]`.")
        return
    told = await digest_now(services, req.team_id, req.channel_id, window)
    if told:
        await reply_privately(services, req, told)


async def _schedule(services: Services, req: CommandRequest, kind: str,
                    words: list[str]) -> None:
    zone = "UTC"
    try:
        has_zone = len(words) == (3 if kind == "weekly" else 2)
        if not has_zone:
            zone = await user_zone(services, req.user_id)
        rule = parse_rule(kind, words, zone)
    except RuleError as err:
        await reply_privately(services, req, f":warning: {err}")
        return
    if (problem := await postable_problem(services, req.channel_id)) is not None:
        await reply_privately(services, req, f":warning: {problem} Nothing was scheduled.")
        return
    _, first = await save_schedule(services, req.team_id, req.channel_id, rule, req.user_id)
    await reply_privately(
        services, req,
        f":calendar: This channel gets a digest {rule.describe()} ({rule.zone}), replacing any "
        f"earlier schedule. First one: {local_time(first, rule.zone)}. From now on I keep the "
        "channel's messages for up to 8 days to build it; `/gemini digest off` stops that.")


async def _list(services: Services, req: CommandRequest) -> None:
    schedules = await list_schedules(services, req.team_id)
    if not schedules:
        await reply_privately(services, req, "No channel in this workspace has a digest "
                              "schedule. Set one with `/gemini digest daily HH:MM [zone]`.")
        return
    zone = await user_zone(services, req.user_id)
    lines = ["*Digest schedules in this workspace:*"]
    for schedule, due in schedules:
        when = local_time(due, zone) if due is not None else "not scheduled"
        lines.append(f"• <#{schedule.channel}> — {schedule.rule.describe()} "
                     f"({schedule.rule.zone}) — next: {when} (your time)")
    await reply_privately(services, req, "\n".join(lines))


SUBCOMMANDS = [Subcommand("digest", "digest now|daily|weekly|list|off",
                          "channel digests now or on a schedule (see `/gemini digest`)", digest)]
