"""Digests people ask for: `digest now` in the channel, `catchup` privately, time zones."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.digests.posting import CannotPost, compose, join, post_digest
from bot.digests.schedule import check_zone
from bot.gemini import GeminiError
from bot.logs import get_logger
from bot.services import Services

log = get_logger("digests.on_demand")

WINDOWS = {"24h": 86_400, "7d": 7 * 86_400}
WINDOW_WORDS = {"24h": "last 24 hours", "7d": "last 7 days"}
CATCHUP_RECORDED_S = 7 * 86_400
"""How far back catchup looks for the asker's last message in a recorded channel."""


async def user_zone(services: Services, user: str) -> str:
    """The user's Slack time zone (`users.info` → `tz`), else UTC."""
    try:
        resp = await services.slack.users_info(user=user)
        tz = (resp.get("user") or {}).get("tz")
        return check_zone(str(tz)) if tz else "UTC"
    except (SlackApiError, ValueError) as exc:
        log.info("user_zone_unknown", user=user, error=type(exc).__name__)
        return "UTC"


async def postable_problem(services: Services, channel: str) -> str | None:
    """Why the bot cannot post in `channel` (joining public channels it is not in), or None."""
    try:
        info = (await services.slack.conversations_info(channel=channel))["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") in ("channel_not_found", "not_in_channel"):
            return ("I can't see this conversation: it is private or a direct message between "
                    "people. Invite me (`/invite @gemini`) to a channel and run it there.")
        return f"Slack would not tell me about this channel ({exc.response.get('error')})."
    if info.get("is_archived"):
        return "This channel is archived."
    if info.get("is_im") or info.get("is_mpim"):
        return "Digests are for channels, not direct messages."
    if not info.get("is_member"):
        if info.get("is_private") or not await join(services, channel):
            return "I'm not in this channel and can't join it. Invite me (`/invite @gemini`)."
    return None


async def digest_now(services: Services, team: str, channel: str, window: str) -> str:
    """Post a digest of the window in the channel; what to tell the asker."""
    if (problem := await postable_problem(services, channel)) is not None:
        return problem
    now = time.time()
    period = WINDOW_WORDS[window]
    title = f"Channel digest · {period}"
    try:
        composed = await compose(services, team, channel, now - WINDOWS[window], now, title,
                                 period)
        if composed is None:
            return f"Nothing to digest: nobody wrote in this channel in the {period}."
        await post_digest(services, channel, composed, f"now:{int(now)}")
    except CannotPost as why:
        return str(why)
    except GeminiError as err:
        log.warning("digest_now_failed", channel=channel, status=err.status, code=err.code)
        return f":warning: {err.user_message}"
    return ""


async def catchup(services: Services, team: str, channel: str,
                  user: str) -> tuple[str, list[dict[str, Any]] | None]:
    """A private summary of what happened since the user last posted here (or in 24 h)."""
    now = time.time()
    recorded = await services.store.channel_log.since(team, channel) is not None
    lookback = CATCHUP_RECORDED_S if recorded else WINDOWS["24h"]
    try:
        composed = await compose(services, team, channel, now - lookback, now,
                                 "Catch up", "last 24 hours", since_user=user)
    except CannotPost as why:
        return str(why), None
    except GeminiError as err:
        log.warning("catchup_failed", channel=channel, status=err.status, code=err.code)
        return f":warning: {err.user_message}", None
    if composed is None:
        return "You're all caught up: nobody wrote here since your last message.", None
    return composed.text, composed.blocks
