"""A token bucket that keeps message edits inside Slack's per-workspace rate limit.

With a store the bucket lives there (Redis: one bucket for every process of the workspace);
without one, or while the store does not answer, a local bucket paces this process alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from bot.cancellation import raise_if_cancelling
from bot.logs import get_logger

if TYPE_CHECKING:
    from storage import Store

log = get_logger("edit_budget")


class UpdateBudget:
    """Paces `chat.update` calls for one workspace (Tier 3: about 50 a minute).

    Interim edits ask `await try_take()` and skip when it says no (the next edit carries the
    latest text anyway); final edits `await take()`. A 429 from Slack pauses everything via
    `pause()` (shared with the other processes on the next call).
    """

    def __init__(self, per_minute: int, burst: int = 5, *, store: Store | None = None,
                 name: str = "chat.update") -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, burst))
        self.store = store
        self.name = name
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._shared_wait = 0.0
        self._pause_to_share = 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _local_delay(self) -> float:
        self._refill()
        pause = max(0.0, self._paused_until - time.monotonic())
        if self._tokens >= 1.0:
            return pause
        return max(pause, (1.0 - self._tokens) / self.rate)

    def delay(self) -> float:
        """Seconds until a token is likely available (as of the last `try_take`)."""
        return max(self._local_delay() if self.store is None else 0.0, self._shared_wait,
                   self._paused_until - time.monotonic(), 0.0)

    async def _shared_take(self) -> float | None:
        """Ask the shared bucket: the wait (0 = taken), or None when the store is unreachable."""
        assert self.store is not None
        try:
            return await self.store.take_token(self.name, self.rate, self.capacity)
        except Exception:  # the store is down: pace this process alone meanwhile
            log.debug("shared_budget_unavailable", bucket=self.name)
            return None

    async def try_take(self) -> bool:
        """Take a token if one is available now."""
        if self.store is not None and self._pause_to_share > 0:
            pause, self._pause_to_share = self._pause_to_share, 0.0
            try:
                await self.store.pause_bucket(self.name, pause)
            except Exception:
                log.debug("shared_budget_unavailable", bucket=self.name)
        if self._paused_until > time.monotonic():
            return False
        if self.store is not None:
            wait = await self._shared_take()
            if wait is not None:
                self._shared_wait = wait
                return wait <= 0
        if self._local_delay() > 0:
            return False
        self._tokens -= 1.0
        return True

    async def take(self) -> None:
        """Wait for a token and take it."""
        while not await self.try_take():
            raise_if_cancelling()
            await asyncio.sleep(max(0.01, self.delay()))

    def pause(self, seconds: float) -> None:
        """Stop handing out tokens for `seconds` (Slack answered 429 with Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._pause_to_share = max(self._pause_to_share, seconds)
