"""Store calls that wait out a short store outage instead of failing the work around them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from bot.cancellation import raise_if_cancelling
from bot.services import Services

T = TypeVar("T")

STORE_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError)
"""What the store raises when it cannot be reached (connection refused, reset, timed out)."""
STORE_PATIENCE_S = 60.0
"""How long a finished answer waits for the store to save it (then it is left queued)."""


async def patiently(services: Services, op: Callable[[], Awaitable[T]], *,
                    patience_s: float = STORE_PATIENCE_S) -> T:
    """Run a store operation, retrying with backoff while the store is unreachable."""
    deadline = time.monotonic() + patience_s
    delay = 0.1
    while True:
        raise_if_cancelling()
        try:
            result = await op()
        except STORE_DOWN:
            services.store_failed()
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)
            continue
        return result
