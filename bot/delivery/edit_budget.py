"""A token bucket that keeps message edits inside Slack's per-workspace rate limit."""

from __future__ import annotations

import asyncio
import time


class UpdateBudget:
    """Paces `chat.update` calls for one workspace (Tier 3: about 50 a minute).

    Interim edits ask `try_take()` and skip when it says no (the next edit carries the latest
    text anyway); final edits `await take()`. A 429 from Slack pauses everything via `pause()`.
    """

    def __init__(self, per_minute: int, burst: int = 5) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, burst))
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._paused_until = 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill()
        pause = max(0.0, self._paused_until - time.monotonic())
        if self._tokens >= 1.0:
            return pause
        return max(pause, (1.0 - self._tokens) / self.rate)

    def try_take(self) -> bool:
        """Take a token if one is available now."""
        if self.delay() > 0:
            return False
        self._tokens -= 1.0
        return True

    async def take(self) -> None:
        """Wait for a token and take it."""
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)
        self._tokens -= 1.0

    def pause(self, seconds: float) -> None:
        """Stop handing out tokens for `seconds` (Slack answered 429 with Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
