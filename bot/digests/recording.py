"""Recording the messages of channels that have a digest schedule, as their events arrive.

Only channels with a schedule are recorded (a per-process cache answers "is this channel
scheduled?" without a Redis call for most messages). Edits and deletes are applied to the
record. Each process also beats a heartbeat; a process starting after a silence longer than
`GAP_AFTER_S` records the silence as a gap, which digests fill from history.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bot.cancellation import raise_if_cancelling
from bot.logs import get_logger
from bot.services import Services
from storage.channel_log import LoggedMessage

log = get_logger("digests.recording")

CACHE_S = 10.0
"""How long a process trusts its answer to "is this channel scheduled?"."""
HEARTBEAT_S = 30.0
GAP_AFTER_S = 90.0
HUMAN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


@dataclass
class ScheduledChannels:
    """This process's cache of which channels are recorded (team:channel -> (yes, until))."""

    entries: dict[str, tuple[bool, float]] = field(default_factory=dict)

    def set(self, team: str, channel: str, recorded: bool) -> None:
        """Remember the answer (a schedule made or removed in this process applies at once)."""
        self.entries[f"{team}:{channel}"] = (recorded, time.monotonic() + CACHE_S)


_caches: dict[str, ScheduledChannels] = {}


def scheduled_channels(services: Services) -> ScheduledChannels:
    """The cache of this process (one per Services)."""
    return _caches.setdefault(services.owner, ScheduledChannels())


async def is_recorded(services: Services, team: str, channel: str) -> bool:
    """Whether the channel has a schedule (cached for CACHE_S)."""
    cache = scheduled_channels(services)
    hit = cache.entries.get(f"{team}:{channel}")
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    recorded = await services.store.channel_log.since(team, channel) is not None
    cache.set(team, channel, recorded)
    return recorded


async def record_event(services: Services, event: dict[str, Any], team_id: str) -> None:
    """Apply a `message` event (new, edited, deleted) to a scheduled channel's record."""
    if not services.settings.digest_recording:
        return
    channel = event.get("channel")
    if not isinstance(channel, str) or channel.startswith("D"):
        return
    team = str(event.get("team") or team_id)
    try:
        if not await is_recorded(services, team, channel):
            return
        chlog = services.store.channel_log
        subtype = event.get("subtype")
        if subtype == "message_changed":
            changed = event.get("message")
            if (isinstance(changed, dict) and isinstance(changed.get("ts"), str)
                    and not changed.get("bot_id")):  # the bot's own streamed edits: skip
                await chlog.edit(team, channel, changed["ts"], str(changed.get("text") or ""))
        elif subtype == "message_deleted":
            if isinstance(event.get("deleted_ts"), str):
                await chlog.delete(team, channel, event["deleted_ts"])
        elif (msg := logged_message(event, services.bot_user_id)) is not None:
            await chlog.add(team, channel, msg, time.time())
    except Exception:
        # Recording is best effort: the digest fills what is missing from history.
        log.warning("digest_record_failed", channel=channel, exc_info=True)


def logged_message(event: dict[str, Any], bot_user_id: str | None) -> LoggedMessage | None:
    """The recordable form of a person's new message, or None."""
    if event.get("subtype") not in HUMAN_SUBTYPES or event.get("bot_id"):
        return None
    user, ts = event.get("user"), event.get("ts")
    if not isinstance(user, str) or not isinstance(ts, str) or user == bot_user_id:
        return None
    try:
        float(ts)
    except ValueError:
        return None
    thread = event.get("thread_ts")
    thread = thread if isinstance(thread, str) and thread != ts else None
    return LoggedMessage(ts, user, str(event.get("text") or ""), thread)


async def keep_heartbeat(services: Services) -> None:
    """Beat every HEARTBEAT_S; on start, record the silence since the last beat as a gap."""
    chlog = services.store.channel_log
    first = True
    while True:
        raise_if_cancelling()
        try:
            now = time.time()
            previous = await chlog.heartbeat(now)
            if first and previous is not None and now - previous > GAP_AFTER_S:
                await chlog.add_gap(previous, now)
                log.info("digest_record_gap", seconds=round(now - previous))
            first = False
        except Exception:
            log.warning("digest_heartbeat_failed", exc_info=True)
        await asyncio.sleep(HEARTBEAT_S)
