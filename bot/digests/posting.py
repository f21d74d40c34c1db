"""Making a digest of a window and putting it into Slack (in the channel, or privately)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.digests.reading import Reading, Sleep, read_window
from bot.digests.render import digest_blocks
from bot.digests.summarize import summarize
from bot.logs import get_logger
from bot.services import Services

log = get_logger("digests.posting")

METADATA_TYPE = "gemini_digest"
"""Message metadata on every digest post: its period, to find a post a crashed run made."""
PERMALINK_CONCURRENCY = 4
CATCHUP_DEFAULT_S = 86_400
"""A catch-up for someone who has not written in the window covers the last 24 hours."""


class CannotPost(Exception):
    """The bot cannot post or read in this channel; the message says why, for the user."""


@dataclass
class Composed:
    """A digest ready to post, and what went into it."""

    text: str
    blocks: list[dict[str, Any]]
    messages: int
    people: int
    input_chars: int
    reading: Reading


async def compose(services: Services, team: str, channel: str, oldest: float, latest: float,
                  title: str, period: str, *, since_user: str | None = None,
                  sleep: Sleep = asyncio.sleep) -> Composed | None:
    """The digest of (oldest, latest], or None when no person wrote in that window.

    With `since_user`, only what came after that person's last message in the window.
    """
    try:
        reading = await read_window(services, team, channel, oldest, latest, sleep=sleep)
    except SlackApiError as exc:
        if exc.response.get("error") != "not_in_channel" or not await join(services, channel):
            raise CannotPost(_why(exc.response.get("error"), "read")) from exc
        reading = await read_window(services, team, channel, oldest, latest, sleep=sleep)
    if since_user is not None:
        theirs = [i for i, m in enumerate(reading.messages) if m.user == since_user]
        if theirs:
            reading.messages = reading.messages[theirs[-1] + 1:]
            period = "since your last message"
        else:
            reading.messages = [m for m in reading.messages
                                if float(m.ts) > latest - CATCHUP_DEFAULT_S]
    if not reading.messages:
        return None
    people = len({m.user for m in reading.messages})
    summary = await summarize(services, f"<#{channel}>", period, reading.messages)
    links = {}
    if summary.digest is not None:
        links = await permalinks(services, channel, summary.digest.cited())
    context = (f"<#{channel}> · {period} · {len(reading.messages)} messages from {people} "
               f"{'person' if people == 1 else 'people'}")
    text, blocks = digest_blocks(title, context, summary.digest, summary.text, links)
    return Composed(text, blocks, len(reading.messages), people, summary.input_chars, reading)


async def permalinks(services: Services, channel: str, stamps: list[str]) -> dict[str, str]:
    """Permalinks of the cited messages (chat.getPermalink, a few at a time; misses skipped)."""
    gate = asyncio.Semaphore(PERMALINK_CONCURRENCY)

    async def one(ts: str) -> tuple[str, str | None]:
        async with gate:
            try:
                resp = await services.slack.chat_getPermalink(channel=channel, message_ts=ts)
                return ts, str(resp.get("permalink") or "") or None
            except SlackApiError as exc:
                log.debug("permalink_unavailable", error=exc.response.get("error"))
                return ts, None

    found = await asyncio.gather(*(one(ts) for ts in stamps))
    return {ts: url for ts, url in found if url}


async def post_digest(services: Services, channel: str, composed: Composed,
                      period_key: str) -> str:
    """Post in the channel (joining it first when public and needed); the message ts."""
    args: dict[str, Any] = {
        "channel": channel, "text": composed.text, "blocks": composed.blocks,
        "unfurl_links": False, "unfurl_media": False,
        "metadata": {"event_type": METADATA_TYPE, "event_payload": {"period": period_key}},
    }
    try:
        resp = await services.slack.chat_postMessage(**args)
    except SlackApiError as exc:
        if exc.response.get("error") != "not_in_channel" or not await join(services, channel):
            raise CannotPost(_why(exc.response.get("error"), "post")) from exc
        resp = await services.slack.chat_postMessage(**args)
    return str(resp["ts"])


async def join(services: Services, channel: str) -> bool:
    """Join a public channel (conversations.join); False where Slack does not allow it."""
    try:
        await services.slack.conversations_join(channel=channel)
    except SlackApiError as exc:
        log.info("channel_join_refused", channel=channel, error=exc.response.get("error"))
        return False
    log.info("channel_joined", channel=channel)
    return True


async def find_posted(services: Services, channel: str, period_key: str,
                      after: float) -> str | None:
    """The ts of a digest post for `period_key` made after `after` (one history read)."""
    try:
        resp = await services.slack.conversations_history(
            channel=channel, oldest=f"{after:.6f}", limit=100, include_all_metadata=True)
    except SlackApiError as exc:
        log.warning("digest_post_check_failed", error=exc.response.get("error"))
        return None
    for msg in resp.get("messages") or []:
        meta = msg.get("metadata") or {}
        if (meta.get("event_type") == METADATA_TYPE
                and (meta.get("event_payload") or {}).get("period") == period_key
                and msg.get("user") == services.bot_user_id):
            return str(msg.get("ts"))
    return None


def _why(error: str | None, doing: str) -> str:
    if error in ("not_in_channel", "channel_not_found"):
        return ("I can't " + doing + " in this channel: it is private or a direct message I'm "
                "not part of. Invite me (`/invite @gemini`) and try again.")
    if error == "is_archived":
        return "This channel is archived."
    if error == "missing_scope":
        return f"I'm missing a Slack permission to {doing} here; an admin needs to reinstall me."
    return f"Slack refused to let me {doing} here ({error or 'unknown error'})."
