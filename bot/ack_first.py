"""Acks before follow-up work: what an event sets off waits while more events are being acked.

Slack times the ack (3 s, then it retries); the placeholder post that follows a message can
wait a few milliseconds. On one event loop it would otherwise slip in between the acks of a
burst and delay each of them. (The claim and queueing are not held back: they keep a thread's
turns in order across replicas.) Follow-up work is admitted once no event has been in
Bolt's hands for `quiet_s`, a few at a time (`concurrency`) so that a burst's waiting work does
not all wake at once, and never later than `max_wait_s` after it asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator


class AckFirst:
    """Tracks events being acked and admits follow-up work in quiet moments, in FIFO order."""

    def __init__(self, quiet_s: float = 0.01, max_wait_s: float = 1.0, concurrency: int = 4,
                 slot_s: float = 0.25) -> None:
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.concurrency = concurrency
        self.slot_s = slot_s
        """How long admitted work counts against `concurrency` at most (a slow Slack call
        must not hold the others back)."""
        self._acking = 0
        self._last_ack = -1e9
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._running = 0

    @property
    def running(self) -> int:
        """How much admitted follow-up work holds a slot now."""
        return self._running

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        """Wrap the handling of one event, up to its ack."""
        self._acking += 1
        try:
            yield
        finally:
            self._acking -= 1
            self._last_ack = time.monotonic()
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(self.quiet_s, self._admit)

    def _quiet(self) -> bool:
        return not self._acking and time.monotonic() - self._last_ack >= self.quiet_s * 0.9

    def _admit(self) -> None:
        """Let waiting work start while it is quiet and slots are free."""
        self._timer = None
        while self._waiting and self._running < self.concurrency and self._quiet():
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._running += 1  # taken on the waiter's behalf
                waiter.set_result(None)

    def _free_slot(self, slot: list[bool]) -> None:
        if slot[0]:
            slot[0] = False
            self._running -= 1
            self._admit()

    @contextlib.asynccontextmanager
    async def follow_up(self) -> AsyncIterator[None]:
        """Run the block once admitted (at once when quiet and nobody waits)."""
        loop = asyncio.get_running_loop()
        if not self._waiting and self._running < self.concurrency and self._quiet():
            self._running += 1
        else:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), self.max_wait_s)
            except TimeoutError:
                if waiter.done():  # admitted just as the wait ran out
                    self._running -= 1
                waiter.cancel()  # (skipped by `_admit` from now on)
                self._running += 1  # a flood: go ahead anyway, counted like the others
            except BaseException:  # cancelled while waiting: pass an admission on
                if waiter.done() and not waiter.cancelled():
                    self._running -= 1
                    self._admit()
                waiter.cancel()
                raise
        slot = [True]
        expiry = loop.call_later(self.slot_s, self._free_slot, slot)
        try:
            yield
        finally:
            expiry.cancel()
            self._free_slot(slot)
