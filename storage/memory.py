"""In-process `Store` backend: dicts with monotonic-clock expiry, for a single bot process."""

from __future__ import annotations

import asyncio
import heapq
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from storage.base import ClaimResult, ThreadKey, ThreadState
from storage.channel_log import MemoryChannelLog
from storage.jobs import MemoryJobs
from storage.records import MemoryRecords

TURN_QUEUE_TTL_S = 24 * 3600
"""Housekeeping expiry of a thread's pending-turn queue after its last enqueue (both backends)."""

_SWEEP_INTERVAL_S = 60.0
_TS_RE = re.compile(r"(\d+)(?:\.(\d{1,6}))?")


def slack_ts_micros(ts: str) -> int:
    """Parse a Slack ts ("1700000000.000100") into exact integer microseconds (no float)."""
    match = _TS_RE.fullmatch(ts)
    if match is None:
        raise ValueError(f"not a Slack ts: {ts!r}")
    seconds, fraction = match.group(1), match.group(2) or ""
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0"))


def positive(seconds: float, what: str) -> float:
    """Validate a TTL/lease duration (both backends reject non-positive ones)."""
    if not seconds > 0:
        raise ValueError(f"{what} must be > 0, got {seconds!r}")
    return seconds


def count_ratings(raw_ratings: Iterable[str]) -> dict[str, int]:
    """Count stored rating JSON documents by their `value` (shared by both backends)."""
    counts: dict[str, int] = {}
    for raw in raw_ratings:
        value = str(json.loads(raw).get("value"))
        counts[value] = counts.get(value, 0) + 1
    return counts


@dataclass(slots=True)
class _Claim:
    """One idempotency key: a live lease (owner set) or done (owner None) until `deadline`."""

    owner: str | None
    deadline: float


@dataclass(slots=True)
class _Bucket:
    """A token bucket: `tokens` as of `stamp`, none handed out before `paused_until`."""

    tokens: float
    stamp: float
    paused_until: float = 0.0


@dataclass(slots=True)
class _Lease:
    """One named lease held by `owner` until `deadline`."""

    owner: str
    deadline: float


@dataclass(slots=True)
class _TurnQueue:
    """Pending turns of one thread: payloads by ts plus a lazily-pruned min-heap of (micros, ts)."""

    deadline: float
    payloads: dict[str, str] = field(default_factory=dict)
    heap: list[tuple[int, str]] = field(default_factory=list)


class MemoryStore:
    """`Store` kept in this process's memory; state is lost when the process exits.

    Every method runs without awaiting inside, so each call is atomic under asyncio (not
    thread-safe). Values are stored as JSON, like Redis, so both backends accept and return
    the same things and callers can never mutate stored state through a returned object.
    """

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._threads: dict[ThreadKey, tuple[str, float]] = {}
        self._claims: dict[str, _Claim] = {}
        self._leases: dict[str, _Lease] = {}
        self._turns: dict[ThreadKey, _TurnQueue] = {}
        self._cancels: dict[str, tuple[str, float]] = {}
        self._feedback: dict[str, tuple[dict[str, str], float]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._ready: asyncio.Queue[ThreadKey] | None = None
        self._last_sweep = clock()
        self.jobs = MemoryJobs()
        self.records = MemoryRecords()
        self.channel_log = MemoryChannelLog()

    # -- thread state -------------------------------------------------------------------------
    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        """Return the thread's state, or None when absent or expired."""
        entry = self._threads.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return ThreadState.model_validate_json(entry[0])

    async def save_thread(self, key: ThreadKey, state: ThreadState, ttl_s: int) -> None:
        """Store the thread's state and (re)start its time-to-live."""
        deadline = self._clock() + positive(ttl_s, "ttl_s")
        self._threads[key] = (state.model_dump_json(), deadline)
        self._maybe_sweep()

    async def delete_thread(self, key: ThreadKey) -> None:
        """Forget the thread."""
        self._threads.pop(key, None)

    # -- exactly-once -------------------------------------------------------------------------
    async def claim(self, idem_key: str, owner: str, lease_s: float) -> ClaimResult:
        """Claim `idem_key` for `owner` unless it is done or held by a live lease (even own)."""
        lease_s = positive(lease_s, "lease_s")
        now = self._clock()
        current = self._claims.get(idem_key)
        if current is not None and current.deadline > now:
            return ClaimResult.IN_PROGRESS if current.owner is not None else ClaimResult.DONE
        self._claims[idem_key] = _Claim(owner, now + lease_s)
        self._maybe_sweep()
        return ClaimResult.CLAIMED

    async def claim_in_thread(self, idem_key: str, owner: str, lease_s: float,
                              key: ThreadKey) -> tuple[ClaimResult, ThreadState | None]:
        """`claim` and `get_thread(key)` together."""
        return await self.claim(idem_key, owner, lease_s), await self.get_thread(key)

    async def renew_claim(self, idem_key: str, owner: str, lease_s: float) -> bool:
        """Extend the lease while working; False if `owner` no longer holds it."""
        lease_s = positive(lease_s, "lease_s")
        now = self._clock()
        current = self._claims.get(idem_key)
        if current is None or current.owner != owner or current.deadline <= now:
            return False
        current.deadline = now + lease_s
        return True

    async def complete_claim(self, idem_key: str, owner: str, ttl_s: int) -> None:
        """Mark done unless another owner holds a live lease (then it will complete it)."""
        ttl = positive(ttl_s, "ttl_s")
        now = self._clock()
        current = self._claims.get(idem_key)
        if current is not None and current.deadline > now and current.owner != owner:
            return  # already done (keeps its TTL), or another live owner will complete it
        self._claims[idem_key] = _Claim(None, now + ttl)

    async def release_claim(self, idem_key: str, owner: str) -> None:
        """Give the claim up if `owner` holds its lease; a DONE claim stays done."""
        current = self._claims.get(idem_key)
        if current is not None and current.owner == owner:
            del self._claims[idem_key]

    # -- per-thread ordering ------------------------------------------------------------------
    async def enqueue_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                           new_state: ThreadState | None = None, state_ttl_s: int = 0) -> bool:
        """Add a pending turn ordered by exact ts (False if that ts is already pending), and
        give the thread `new_state` unless it has a state."""
        micros = slack_ts_micros(message_ts)
        now = self._clock()
        queue = self._live_queue(key, now)
        if queue is None:
            queue = self._turns[key] = _TurnQueue(deadline=0.0)
        if message_ts in queue.payloads:
            return False
        queue.payloads[message_ts] = json.dumps(payload)
        heapq.heappush(queue.heap, (micros, message_ts))
        queue.deadline = now + TURN_QUEUE_TTL_S
        if new_state is not None and await self.get_thread(key) is None:
            await self.save_thread(key, new_state, state_ttl_s)
        self._maybe_sweep()
        return True

    async def update_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any]) -> bool:
        """Replace a pending turn's payload; False (and nothing stored) if it is not pending."""
        queue = self._live_queue(key, self._clock())
        if queue is None or message_ts not in queue.payloads:
            return False
        queue.payloads[message_ts] = json.dumps(payload)
        return True

    async def hand_over_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                             claim: str, owner: str, done_ttl_s: int) -> bool:
        """Update the turn's payload, mark its claim done and wake a worker for the thread."""
        updated = await self.update_turn(key, message_ts, payload)
        await self.complete_claim(claim, owner, done_ttl_s)
        await self.notify_ready(key)
        return updated

    async def peek_turn(self, key: ThreadKey) -> tuple[str, dict[str, Any]] | None:
        """Return the pending turn with the smallest ts, without removing it."""
        queue = self._live_queue(key, self._clock())
        if queue is None:
            return None
        while queue.heap:
            _, ts = queue.heap[0]
            raw = queue.payloads.get(ts)
            if raw is not None:
                return ts, json.loads(raw)
            heapq.heappop(queue.heap)  # stale entry of a removed turn
        return None

    async def remove_turn(self, key: ThreadKey, message_ts: str) -> None:
        """Drop a pending turn once it has been answered."""
        queue = self._turns.get(key)
        if queue is None or queue.payloads.pop(message_ts, None) is None:
            return
        if not queue.payloads:
            del self._turns[key]
        elif len(queue.heap) > 2 * len(queue.payloads) + 8:
            queue.heap = [item for item in queue.heap if item[1] in queue.payloads]
            heapq.heapify(queue.heap)

    async def has_turn(self, key: ThreadKey, message_ts: str) -> bool:
        """Whether the turn with this ts is still pending."""
        queue = self._live_queue(key, self._clock())
        return queue is not None and message_ts in queue.payloads

    async def pending_threads(self, limit: int = 1000) -> list[ThreadKey]:
        """Threads that have queued turns (for resuming work a dead process left behind)."""
        now = self._clock()
        return [k for k in list(self._turns) if self._live_queue(k, now) is not None][:limit]

    # -- leases (per-thread worker lock) ------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Take the named lease if free or expired (False while anyone, even `owner`, holds it)."""
        lease_s = positive(lease_s, "lease_s")
        now = self._clock()
        current = self._leases.get(name)
        if current is not None and current.deadline > now:
            return False
        self._leases[name] = _Lease(owner, now + lease_s)
        self._maybe_sweep()
        return True

    async def renew_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Extend a held lease; False if `owner` lost it."""
        lease_s = positive(lease_s, "lease_s")
        now = self._clock()
        current = self._leases.get(name)
        if current is None or current.owner != owner or current.deadline <= now:
            return False
        current.deadline = now + lease_s
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        """Release the lease if `owner` still holds it."""
        current = self._leases.get(name)
        if current is not None and current.owner == owner:
            del self._leases[name]

    # -- answer controls (Stop, feedback) -----------------------------------------------------
    async def request_cancel(self, run_id: str, by: str, ttl_s: float) -> None:
        """Remember who asked to stop `run_id`, for `ttl_s` seconds."""
        self._cancels[run_id] = (by, self._clock() + positive(ttl_s, "ttl_s"))
        self._maybe_sweep()

    async def cancel_requested(self, run_id: str) -> str | None:
        """Who asked to stop `run_id`, or None."""
        entry = self._cancels.get(run_id)
        return entry[0] if entry is not None and entry[1] > self._clock() else None

    async def record_feedback(self, interaction_id: str, user_id: str, value: str,
                              ttl_s: float) -> dict[str, int]:
        """Store one person's rating (replacing theirs) and return the answer's counts by value."""
        deadline = self._clock() + positive(ttl_s, "ttl_s")
        entry = self._feedback.get(interaction_id)
        ratings = entry[0] if entry is not None and entry[1] > self._clock() else {}
        ratings[user_id] = json.dumps({"value": value, "ts": time.time()})
        self._feedback[interaction_id] = (ratings, deadline)
        self._maybe_sweep()
        return count_ratings(ratings.values())

    async def get_feedback(self, interaction_id: str) -> dict[str, dict[str, Any]]:
        """Ratings of an answer: user id -> {"value", "ts"}."""
        entry = self._feedback.get(interaction_id)
        if entry is None or entry[1] <= self._clock():
            return {}
        return {user: json.loads(raw) for user, raw in entry[0].items()}

    # -- hand-off from web processes to workers ----------------------------------------------
    def _ready_queue(self) -> asyncio.Queue[ThreadKey]:
        if self._ready is None:
            self._ready = asyncio.Queue()
        return self._ready

    async def notify_ready(self, key: ThreadKey) -> None:
        """Tell a worker that `key` has queued turns to answer."""
        self._ready_queue().put_nowait(key)

    async def wait_ready(self, timeout_s: float) -> ThreadKey | None:
        """The next handed-over thread, or None after `timeout_s`."""
        try:
            return await asyncio.wait_for(self._ready_queue().get(), timeout_s)
        except TimeoutError:
            return None

    # -- shared rate budgets -----------------------------------------------------------------
    async def take_token(self, bucket: str, per_s: float, capacity: float) -> float:
        """Take a token if one is available (0.0), else the seconds until one is."""
        positive(per_s, "per_s")
        now = self._clock()
        b = self._buckets.setdefault(bucket, _Bucket(tokens=capacity, stamp=now))
        b.tokens = min(capacity, b.tokens + max(0.0, now - b.stamp) * per_s)
        b.stamp = now
        wait = max(0.0, b.paused_until - now)
        if b.tokens < 1.0:
            wait = max(wait, (1.0 - b.tokens) / per_s)
        if wait <= 0:
            b.tokens -= 1.0
        return wait

    async def pause_bucket(self, bucket: str, seconds: float) -> None:
        """Hand out no token for `seconds`."""
        now = self._clock()
        b = self._buckets.setdefault(bucket, _Bucket(tokens=0.0, stamp=now))
        b.paused_until = max(b.paused_until, now + positive(seconds, "seconds"))

    # -- lifecycle ----------------------------------------------------------------------------
    async def ping(self) -> bool:
        """Always reachable."""
        return True

    async def close(self) -> None:
        """Nothing to release (state stays readable until the object is dropped)."""

    # -- internals ----------------------------------------------------------------------------
    def _live_queue(self, key: ThreadKey, now: float) -> _TurnQueue | None:
        """The thread's turn queue, dropping it first if its housekeeping TTL ran out."""
        queue = self._turns.get(key)
        if queue is not None and queue.deadline <= now:
            del self._turns[key]
            return None
        return queue

    def _maybe_sweep(self) -> None:
        """Drop expired entries at most once a minute, so unread keys cannot pile up forever."""
        now = self._clock()
        if now - self._last_sweep < _SWEEP_INTERVAL_S:
            return
        self._last_sweep = now
        self._threads = {k: v for k, v in self._threads.items() if v[1] > now}
        self._claims = {k: v for k, v in self._claims.items() if v.deadline > now}
        self._leases = {k: v for k, v in self._leases.items() if v.deadline > now}
        self._turns = {k: v for k, v in self._turns.items() if v.deadline > now}
        self._cancels = {k: v for k, v in self._cancels.items() if v[1] > now}
        self._feedback = {k: v for k, v in self._feedback.items() if v[1] > now}
