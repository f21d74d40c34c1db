"""The conversation-state interface every storage backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from storage.channel_log import ChannelLog
from storage.jobs import JobStore
from storage.records import RecordStore


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """Identifies one Slack thread: the unit that maps to one Gemini interaction chain."""

    team_id: str
    channel_id: str
    thread_ts: str

    def __str__(self) -> str:
        return f"{self.team_id}:{self.channel_id}:{self.thread_ts}"

    @classmethod
    def parse(cls, text: str) -> ThreadKey:
        """Inverse of `str(key)` (Slack team and channel ids contain no colons)."""
        team_id, channel_id, thread_ts = text.split(":", 2)
        return cls(team_id, channel_id, thread_ts)


class ThreadState(BaseModel):
    """What the bot remembers about one thread between turns (small, O(1) to read and write)."""

    interaction_id: str | None = None
    """The interaction that produced the last answer; the next turn chains to it."""
    previous_interaction_id: str | None = None
    """The chain point before the last turn (what Regenerate re-runs from)."""
    model: str | None = None
    turns: int = 0
    last_activity: float = 0.0
    """Unix seconds of the last completed turn (or of joining the thread)."""
    last_answer_ts: str | None = None
    """Slack ts of the first message of the last answer."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Small feature-specific metadata (e.g. the last generated image's file id)."""


class ClaimResult(StrEnum):
    """Outcome of trying to claim an idempotency key."""

    CLAIMED = "claimed"
    """This caller now owns the work."""
    IN_PROGRESS = "in_progress"
    """Another live owner is working on it."""
    DONE = "done"
    """The work was already completed."""


class Store(Protocol):
    """Conversation state, idempotency claims, per-thread turn queues and leases.

    Two backends implement it: `storage.redis_store.RedisStore` (many processes) and
    `storage.memory.MemoryStore` (one process, no server). Both pass
    `tests/test_storage_contract.py`.
    """

    name: str
    jobs: JobStore
    """Durable jobs due at a time (background-run polls, scheduled digests)."""
    records: RecordStore
    """Small JSON records and indexes (a background run's record, a digest schedule)."""
    channel_log: ChannelLog
    """Recent messages of channels with a digest schedule (storage/channel_log.py)."""

    # -- thread state -------------------------------------------------------------------------
    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        """Return the thread's state, or None when the bot is not part of the thread."""
        ...

    async def save_thread(self, key: ThreadKey, state: ThreadState, ttl_s: int) -> None:
        """Store the thread's state and (re)start its time-to-live."""
        ...

    async def delete_thread(self, key: ThreadKey) -> None:
        """Forget the thread."""
        ...

    # -- exactly-once -------------------------------------------------------------------------
    async def claim(self, idem_key: str, owner: str, lease_s: float) -> ClaimResult:
        """Claim `idem_key` for `owner` unless it is done or held by a live lease.

        An expired lease (its owner died mid-work) can be claimed again, so a Slack retry of
        an event whose first worker crashed is still processed.
        """
        ...

    async def claim_in_thread(self, idem_key: str, owner: str, lease_s: float,
                              key: ThreadKey) -> tuple[ClaimResult, ThreadState | None]:
        """`claim(idem_key, ...)` and `get_thread(key)` at once, for a message that is a turn
        whatever the thread's state (a mention, a DM): one round trip before its ack."""
        ...

    async def renew_claim(self, idem_key: str, owner: str, lease_s: float) -> bool:
        """Extend the lease while working; False if `owner` no longer holds it."""
        ...

    async def complete_claim(self, idem_key: str, owner: str, ttl_s: int) -> None:
        """Mark the work done; later claims return DONE for `ttl_s` seconds."""
        ...

    async def release_claim(self, idem_key: str, owner: str) -> None:
        """Give the claim up without completing it (a later retry may claim it)."""
        ...

    # -- per-thread ordering ------------------------------------------------------------------
    async def enqueue_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                           new_state: ThreadState | None = None, state_ttl_s: int = 0) -> bool:
        """Add a pending turn; turns are taken in Slack `ts` order. Re-adding a pending ts is a
        no-op (False). With `new_state`, a thread without state gets it (for `state_ttl_s`)."""
        ...

    async def update_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any]) -> bool:
        """Replace a pending turn's payload; False (and nothing stored) if it is not pending."""
        ...

    async def hand_over_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                             claim: str, owner: str, done_ttl_s: int) -> bool:
        """`update_turn`, `complete_claim(claim, owner, done_ttl_s)` and `notify_ready(key)`
        at once: how a web process hands a queued turn to the workers."""
        ...

    async def peek_turn(self, key: ThreadKey) -> tuple[str, dict[str, Any]] | None:
        """Return the pending turn with the smallest ts, without removing it."""
        ...

    async def remove_turn(self, key: ThreadKey, message_ts: str) -> None:
        """Drop a pending turn once it has been answered."""
        ...

    async def has_turn(self, key: ThreadKey, message_ts: str) -> bool:
        """Whether the turn with this ts is still pending."""
        ...

    async def pending_threads(self, limit: int = 1000) -> list[ThreadKey]:
        """Threads that have queued turns (for resuming work a dead process left behind)."""
        ...

    # -- leases (per-thread worker lock) ------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Take the named lease if free or expired (non-blocking)."""
        ...

    async def renew_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Extend a held lease; False if `owner` lost it."""
        ...

    async def release_lease(self, name: str, owner: str) -> None:
        """Release the lease if `owner` still holds it."""
        ...

    # -- answer controls (Stop, feedback) -----------------------------------------------------
    async def request_cancel(self, run_id: str, by: str, ttl_s: float) -> None:
        """Ask whichever process runs `run_id` to stop it; `by` (a user id) is kept for `ttl_s`."""
        ...

    async def cancel_requested(self, run_id: str) -> str | None:
        """Who asked to stop `run_id`, or None when nobody did (or the request expired)."""
        ...

    async def record_feedback(self, interaction_id: str, user_id: str, value: str,
                              ttl_s: float) -> dict[str, int]:
        """Store one person's rating of an answer (a later one replaces theirs); count by value."""
        ...

    async def get_feedback(self, interaction_id: str) -> dict[str, dict[str, Any]]:
        """Ratings of an answer: user id -> {"value": ..., "ts": unix seconds}."""
        ...

    # -- hand-off from web processes to workers ----------------------------------------------
    async def notify_ready(self, key: ThreadKey) -> None:
        """Tell a worker that `key` has queued turns to answer."""
        ...

    async def wait_ready(self, timeout_s: float) -> ThreadKey | None:
        """The next thread a web process handed over, waiting up to `timeout_s` (else None)."""
        ...

    # -- shared rate budgets (e.g. chat.update per workspace, across processes) ---------------
    async def take_token(self, bucket: str, per_s: float, capacity: float) -> float:
        """Take one token from a token bucket shared by every process (it starts full).

        Returns 0.0 when a token was taken, else the seconds until one will be (none taken).
        """
        ...

    async def pause_bucket(self, bucket: str, seconds: float) -> None:
        """Hand out no token from `bucket` for `seconds` (Slack answered 429 with Retry-After)."""
        ...

    # -- lifecycle ----------------------------------------------------------------------------
    async def ping(self) -> bool:
        """True when the backend is reachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
