"""Rate limiting (rolling windows, token buckets) and scripted faults for the fake."""

from __future__ import annotations

import math
from collections import deque

from .models import Fault, SlackError

CHAT_UPDATE_PER_MINUTE = 50
POST_BURST = 5
POST_REFILL_PER_S = 1.0
TIER3_PER_MINUTE = 50
RESTRICTED_PER_MINUTE = 1
RESTRICTED_MAX_LIMIT = 15
HISTORY_METHODS = ("conversations.history", "conversations.replies")


def ratelimited(retry_after: float) -> SlackError:
    """The 429 answer Slack gives, with an integer Retry-After of at least 1 s."""
    seconds = max(1, math.ceil(retry_after))
    return SlackError("ratelimited", status=429, headers={"Retry-After": str(seconds)})


class RollingWindow:
    """At most `limit` admissions in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """Admit a call now, or return seconds until the window frees."""
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return self._times[0] + self.window_s - now
        self._times.append(now)
        return None


class TokenBucket:
    """A bucket of `burst` tokens refilled at `rate` per second."""

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = float(burst)
        self.last = now

    def admit(self, now: float) -> float | None:
        """Take a token now, or return seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class Limiter:
    """The fake's default Slack limits, plus per-method scripted faults."""

    def __init__(self) -> None:
        self.faults: dict[str, deque[Fault]] = {}
        self._windows: dict[str, RollingWindow] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def script(self, method: str, fault: Fault, times: int) -> None:
        """Queue `times` copies of a fault for the next calls of `method`."""
        self.faults.setdefault(method, deque()).extend(fault for _ in range(times))

    def take_fault(self, method: str) -> SlackError | None:
        """Pop the next scripted fault for this method as the error to answer."""
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.after_processing:
            err = SlackError("fatal_error" if fault.status else "connection_reset",
                             status=fault.status)
            err.after_processing = True  # type: ignore[attr-defined]
            return err
        if fault.error is not None:
            return SlackError(fault.error, status=fault.status if fault.status != 429 else 200)
        if fault.status == 429:
            return ratelimited(fault.retry_after)
        if fault.status == 0:
            return SlackError("connection_reset", status=0)
        return SlackError("fatal_error", status=fault.status)

    def _window(self, key: str, limit: int) -> RollingWindow:
        """The rolling window for a key, rebuilt if its limit changed."""
        window = self._windows.get(key)
        if window is None or window.limit != limit:
            window = self._windows[key] = RollingWindow(limit)
        return window

    def check(self, method: str, args: dict[str, object], now: float, history_mode: str) -> None:
        """Raise a 429 SlackError when this call exceeds Slack's default limits."""
        wait: float | None = None
        if method == "chat.update":
            wait = self._window(method, CHAT_UPDATE_PER_MINUTE).admit(now)
        elif method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            bucket = self._buckets.get(channel)
            if bucket is None:
                bucket = self._buckets[channel] = TokenBucket(POST_BURST, POST_REFILL_PER_S, now)
            wait = bucket.admit(now)
        elif method in HISTORY_METHODS:
            per_min = RESTRICTED_PER_MINUTE if history_mode == "restricted" else TIER3_PER_MINUTE
            wait = self._window(f"{method}:{history_mode}", per_min).admit(now)
        if wait is not None:
            raise ratelimited(wait)
