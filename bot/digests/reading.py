"""Reading a channel's messages for a window: the record first, history only for what it lacks.

Scheduled channels are recorded as messages arrive (storage/channel_log.py), so their digests
need no `conversations.history` read at all. History fills only the stretches the record lacks
(a channel without a schedule, the time before recording began, gaps while no bot process was
receiving events). Paging is sequential, keeps its cursor and honours `Retry-After`, because
Slack may allow this app one history request a minute and 15 messages a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import get_logger
from bot.services import Services
from storage.channel_log import LoggedMessage

log = get_logger("digests.reading")

PAGE_LIMIT = 200
MAX_THREAD_READS = 10
"""Threads whose replies are read from history per digest (each read may cost a minute)."""
MAX_RATE_WAITS = 30
HUMAN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

Sleep = Callable[[float], Awaitable[None]]
_history_locks: dict[str, asyncio.Lock] = {}
"""Per process (Services.owner): history reads never run in parallel."""


@dataclass
class Reading:
    """A window's human messages, oldest first, and what it took to get them."""

    messages: list[LoggedMessage]
    history_calls: int = 0
    rate_limited_s: float = 0.0
    spans_read: list[tuple[float, float]] = field(default_factory=list)


def lacking_spans(since: float | None, gaps: list[tuple[float, float]], oldest: float,
                  latest: float) -> list[tuple[float, float]]:
    """The parts of (oldest, latest] the record does not cover."""
    if since is None or since >= latest:
        return [(oldest, latest)]
    spans = [(oldest, since)] if since > oldest else []
    for start, end in gaps:
        a, b = max(start, oldest), min(end, latest)
        if a < b:
            spans.append((a, b))
    spans.sort()
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


async def read_window(services: Services, team: str, channel: str, oldest: float,
                      latest: float, *, sleep: Sleep = asyncio.sleep) -> Reading:
    """Human messages with oldest < ts <= latest (SlackApiError when history is refused)."""
    chlog = services.store.channel_log
    # With recording switched off, a record left from before may be stale: read history.
    recording = services.settings.digest_recording
    since = await chlog.since(team, channel) if recording else None
    recorded = await chlog.between(team, channel, oldest, latest) if since is not None else []
    gaps = await chlog.gaps(oldest, latest) if since is not None else []
    spans = lacking_spans(since, gaps, oldest, latest)
    by_ts = {m.ts: m for m in recorded}
    reading = Reading(messages=[], spans_read=spans)
    if spans:
        # One history reader at a time in this process: Slack's limit is per app, not channel.
        async with _history_locks.setdefault(services.owner, asyncio.Lock()):
            for a, b in spans:
                pager = HistoryPager(services.slack_interim, channel, sleep,
                                     services.bot_user_id)
                for m in await pager.read(a, b):
                    by_ts[m.ts] = m
                reading.history_calls += pager.calls
                reading.rate_limited_s += pager.waited_s
    reading.messages = sorted(by_ts.values(), key=lambda m: float(m.ts))
    log.info("digest_window_read", channel=channel, recorded=len(recorded),
             messages=len(reading.messages), history_calls=reading.history_calls,
             spans=len(spans))
    return reading


@dataclass
class HistoryPager:
    """Reads history (and active threads' replies) one page at a time, waiting out 429s."""

    client: AsyncWebClient
    channel: str
    sleep: Sleep
    bot_user_id: str | None = None
    calls: int = 0
    waited_s: float = 0.0

    async def read(self, oldest: float, latest: float) -> list[LoggedMessage]:
        """Top-level messages in (oldest, latest] plus replies of up to MAX_THREAD_READS threads."""
        out: list[LoggedMessage] = []
        threads: list[str] = []
        async for page in self._pages("conversations_history", oldest=f"{oldest:.6f}",
                                      latest=f"{latest:.6f}"):
            for raw in page:
                if (msg := self._human(raw)) is not None:
                    out.append(msg)
                if raw.get("reply_count") and float(raw.get("latest_reply") or 0) > oldest:
                    threads.append(str(raw["ts"]))
        for parent in threads[:MAX_THREAD_READS]:
            async for page in self._pages("conversations_replies", ts=parent,
                                          oldest=f"{oldest:.6f}", latest=f"{latest:.6f}"):
                out += [m for raw in page if raw.get("ts") != parent
                        and (m := self._human(raw)) is not None]
        if len(threads) > MAX_THREAD_READS:
            log.info("digest_threads_skipped", channel=self.channel,
                     skipped=len(threads) - MAX_THREAD_READS)
        return out

    async def _pages(self, method: str, **args: Any) -> Any:
        """Yield each page's messages, following the cursor; a 429 waits and repeats the page."""
        cursor: str | None = None
        waits = 0
        while True:
            try:
                self.calls += 1
                resp = await getattr(self.client, method)(channel=self.channel, limit=PAGE_LIMIT,
                                                          cursor=cursor, **args)
            except SlackApiError as exc:
                if exc.response.status_code != 429 or waits >= MAX_RATE_WAITS:
                    raise
                waits += 1
                wait = float(exc.response.headers.get("Retry-After", 60) or 60)
                log.info("history_rate_limited", channel=self.channel, method=method,
                         retry_after_s=wait)
                self.waited_s += wait
                await self.sleep(wait)
                continue
            yield resp.get("messages") or []
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return

    def _human(self, raw: dict[str, Any]) -> LoggedMessage | None:
        if raw.get("subtype") not in HUMAN_SUBTYPES or raw.get("bot_id"):
            return None
        user = raw.get("user")
        if not isinstance(user, str) or user == self.bot_user_id or not raw.get("ts"):
            return None
        thread = raw.get("thread_ts")
        return LoggedMessage(str(raw["ts"]), user, str(raw.get("text") or ""),
                             str(thread) if thread and thread != raw["ts"] else None)
