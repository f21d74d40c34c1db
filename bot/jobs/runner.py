"""Runs due jobs in this process: claims them, keeps their lease, applies what each returns.

Every bot process runs one `JobRunner` over the shared `JobStore`. A job is claimed by one
process at a time; while its handler runs the lease is renewed, and a handler whose lease was
lost (this process stalled, another took over) is cancelled. A handler says what comes next:
`Done` (the job is removed) or `RunAgain(at)` (due again then, e.g. the next poll or the next
digest period). A handler that raises is retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.cancellation import raise_if_cancelling
from bot.logs import get_logger
from storage.jobs import Job, JobStore

log = get_logger("jobs")

LEASE_S = 30.0
"""How long a claim lasts without renewal: a dead process's jobs move on after this."""
IDLE_TICK_S = 1.0
"""Longest sleep between looks at the store (other processes may schedule jobs meanwhile)."""
CAPACITY = 64
"""Jobs one process runs at once."""
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class Done:
    """The job is finished: remove it."""


@dataclass(frozen=True, slots=True)
class RunAgain:
    """Run the job again at unix time `at`, optionally with new data."""

    at: float
    data: dict[str, Any] | None = None


Outcome = Done | RunAgain
JobHandler = Callable[[Job], Awaitable[Outcome]]


def retry_delay(attempts: int) -> float:
    """Backoff after `attempts` failures in a row: 2, 4, 8 … seconds, capped at five minutes."""
    return float(min(MAX_BACKOFF_S, 2.0 ** min(attempts + 1, 16)))


@dataclass
class JobRunner:
    """Claims due jobs from `store` for `owner` and runs each with the handler for its kind."""

    store: JobStore
    owner: str
    lease_s: float = LEASE_S
    idle_tick_s: float = IDLE_TICK_S
    capacity: int = CAPACITY
    clock: Callable[[], float] = time.time
    handlers: dict[str, JobHandler] = field(default_factory=dict)
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def register(self, kind: str, handler: JobHandler) -> None:
        """Handle jobs of `kind` with `handler`."""
        self.handlers[kind] = handler

    async def schedule(self, job_id: str, kind: str, at: float,
                       data: dict[str, Any]) -> None:
        """Store a job (replacing one with the same id) and look for due work at once."""
        await self.store.schedule(job_id, kind, at, data)
        self.wake()

    def wake(self) -> None:
        """Look at the store now instead of at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and run due jobs until cancelled; store errors are logged and retried."""
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    await self.run_due()
                    delay = await self._sleep_for()
                    failures = 0
                except Exception:
                    raise_if_cancelling()
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                    log.warning("job_store_unavailable", retry_in_s=delay, exc_info=True)
                raise_if_cancelling()
                # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
                # lands as the wake-up does (a job finishing during shutdown), and never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            await self.stop()

    async def run_due(self) -> int:
        """Claim what is due now (up to free capacity) and start it; how many were started."""
        free = self.capacity - len(self.running)
        if free <= 0:
            return 0
        jobs = await self.store.claim_due(self.owner, self.clock(), self.lease_s, free)
        for job in jobs:
            task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}")
            self.running[job.id] = task
            task.add_done_callback(lambda _t, job_id=job.id: self._finished(job_id))
        return len(jobs)

    def _finished(self, job_id: str) -> None:
        self.running.pop(job_id, None)
        self.wake()  # capacity freed

    async def _sleep_for(self) -> float:
        if len(self.running) >= self.capacity:
            return self.idle_tick_s
        next_due = await self.store.next_due()
        if next_due is None:
            return self.idle_tick_s
        return max(0.0, min(self.idle_tick_s, next_due - self.clock()))

    async def _run_one(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            log.error("job_kind_unknown", job=job.id, kind=job.kind)
            await self.store.reschedule(job, self.clock() + MAX_BACKOFF_S, failed=True)
            return
        work = asyncio.create_task(handler(job))
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            await asyncio.wait({work, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost = keeper.done() and not work.done()
            keeper.cancel()
            if not work.done():
                work.cancel()
            await asyncio.gather(work, keeper, return_exceptions=True)
        if lost:
            log.warning("job_lease_lost", job=job.id, kind=job.kind)
            return
        if work.cancelled():
            return  # shutting down: the lease runs out and another process takes the job
        await self._apply(job, work)

    async def _apply(self, job: Job, work: asyncio.Task[Outcome]) -> None:
        exc = work.exception()
        try:
            if exc is not None:
                delay = retry_delay(job.attempts)
                log.warning("job_failed", job=job.id, kind=job.kind, attempts=job.attempts + 1,
                            retry_in_s=delay, exc_info=exc)
                await self.store.reschedule(job, self.clock() + delay, failed=True)
                return
            outcome = work.result()
            if isinstance(outcome, RunAgain):
                await self.store.reschedule(job, outcome.at, outcome.data)
            else:
                await self.store.finish(job)
        except Exception:
            # The store is down: the claim runs out and the job is run again (handlers are
            # written to be safe to repeat).
            log.warning("job_outcome_not_saved", job=job.id, kind=job.kind, exc_info=True)

    async def _keep_lease(self, job: Job) -> None:
        """Renew the claim until it is lost (returns); a failed renewal is retried."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await self.store.renew(job, self.clock(), self.lease_s):
                    return
            except Exception:
                raise_if_cancelling()
                log.warning("job_lease_renew_failed", job=job.id, exc_info=True)

    async def stop(self) -> None:
        """Cancel running handlers; their jobs stay stored and are taken up again later."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

