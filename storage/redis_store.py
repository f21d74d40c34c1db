"""Redis `Store` backend on `redis.asyncio`, shared safely by many bot processes.

Key layout (every operation is O(1) or O(log n); nothing scans the keyspace):

    {p}:thread:{<threadkey>}                 string  ThreadState JSON, PX = ttl
    {p}:claim:{idem_key}                     string  "L:<owner>" while leased (PX = lease),
                                                     "D" once done (PX = ttl)
    {p}:turns:{<threadkey>}                  zset    member = ts, score = exact int microseconds
    {p}:turns:{<threadkey>}:payloads         hash    ts -> payload JSON
    {p}:lease:{name}                         string  owner, PX = lease
    {p}:pending                              zset    thread keys with queued turns (score =
                                                     last enqueue time), for crash recovery
    {p}:cancel:{run_id}                      string  user id who pressed Stop, PX = ttl
    {p}:feedback:{interaction_id}            hash    user id -> {"value", "ts"} JSON, PX = ttl
    {p}:bucket:{name}                        hash    shared token bucket (tokens, stamp, paused)
    {p}:ready                                list    thread keys web processes hand to workers

Jobs (`self.jobs`, storage/jobs.py) and records (`self.records`, storage/records.py) document
their own keys.

The braces around the thread key (`{team:channel:thread_ts}`) are literal: a Redis Cluster
hash tag, so a thread's state, turn zset, payload hash and lease share a slot and the scripts
touching several of them stay valid there. (State written before this layout, at
`{p}:thread:team:channel:ts`, is still read.) The remaining keys are each used alone.
Compare-owner-then-act steps run as Lua scripts, so they are atomic across processes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

try:  # redis-py >= 7.1: its version is read once, not from package metadata per new connection
    from redis.driver_info import DriverInfo
except ImportError:
    DriverInfo = None

from storage import redis_lua as lua
from storage.base import ClaimResult, ThreadKey, ThreadState
from storage.channel_log import RedisChannelLog
from storage.jobs import RedisJobs
from storage.memory import TURN_QUEUE_TTL_S, count_ratings, positive, slack_ts_micros
from storage.records import RedisRecords

_MAX_EXACT_SCORE = 2**53
"""Largest integer a zset score (an IEEE double) holds exactly: ts up to year 2255."""

def _ms(seconds: float, what: str) -> int:
    """A positive duration in whole milliseconds (at least 1) for PX/PEXPIRE."""
    return max(1, round(positive(seconds, what) * 1000))


def _text(value: Any) -> str:
    """Decode a reply, whether or not the client was built with decode_responses."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    """`Store` on Redis: state, claims, turn queues and leases shared by all bot processes."""

    name = "redis"

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "gs", owns_client: bool = True
    ) -> None:
        self._r = client
        self._p = prefix
        self._owns_client = owns_client
        self.jobs = RedisJobs(client, prefix)
        self.records = RedisRecords(client, prefix)
        self.channel_log = RedisChannelLog(client, prefix)
        self._claim_script = client.register_script(lua.CLAIM)
        self._renew_script = client.register_script(lua.RENEW)
        self._release_script = client.register_script(lua.RELEASE)
        self._complete_script = client.register_script(lua.COMPLETE)
        self._enqueue_script = client.register_script(lua.ENQUEUE)
        self._peek_script = client.register_script(lua.PEEK)
        self._update_script = client.register_script(lua.UPDATE)
        self._take_token_script = client.register_script(lua.TAKE_TOKEN)
        self._pause_bucket_script = client.register_script(lua.PAUSE_BUCKET)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "gs", **client_kwargs: Any) -> RedisStore:
        """Build a store (owning its own connection pool) from a redis:// or rediss:// URL."""
        client_kwargs.setdefault("socket_connect_timeout", 5)
        client_kwargs.setdefault("socket_timeout", 5)
        client_kwargs.setdefault("health_check_interval", 30)
        # Fail fast when Redis is down (the bot spools and retries itself) instead of
        # redis-py's default multi-second backoff on every command.
        client_kwargs.setdefault("retry", Retry(ExponentialBackoff(cap=0.2, base=0.02), 1))
        # Under load (hundreds of answers in flight) wait for a free connection instead of
        # failing with "Too many connections" once redis-py's default pool of 100 is in use.
        client_kwargs.setdefault("max_connections", 400)
        client_kwargs.setdefault("timeout", 10)
        if DriverInfo is not None:  # a burst opens ~200: 370 ms of the loop, 240 ms with this
            client_kwargs.setdefault("driver_info", DriverInfo())
        pool = aioredis.BlockingConnectionPool.from_url(url, decode_responses=True,
                                                        **client_kwargs)
        return cls(aioredis.Redis.from_pool(pool),
                   prefix=prefix)

    @property
    def client(self) -> aioredis.Redis:
        """The underlying redis-py client (e.g. for a startup PING that reports its error)."""
        return self._r

    # -- keys ---------------------------------------------------------------------------------
    def _thread_key(self, key: ThreadKey) -> str:
        return f"{self._p}:thread:{{{key}}}"

    def _legacy_thread_key(self, key: ThreadKey) -> str:
        """Where versions before the hash-tagged layout kept the state (read as a fallback)."""
        return f"{self._p}:thread:{key}"

    def _claim_key(self, idem_key: str) -> str:
        return f"{self._p}:claim:{idem_key}"

    def _turn_keys(self, key: ThreadKey) -> list[str]:
        queue = f"{self._p}:turns:{{{key}}}"
        return [queue, f"{queue}:payloads"]

    def _pending_key(self) -> str:
        return f"{self._p}:pending"

    def _lease_key(self, name: str) -> str:
        return f"{self._p}:lease:{name}"

    def _cancel_key(self, run_id: str) -> str:
        return f"{self._p}:cancel:{run_id}"

    def _feedback_key(self, interaction_id: str) -> str:
        return f"{self._p}:feedback:{interaction_id}"

    def _ready_key(self) -> str:
        return f"{self._p}:ready"

    def _bucket_key(self, bucket: str) -> str:
        return f"{self._p}:bucket:{bucket}"

    # -- thread state -------------------------------------------------------------------------
    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        """Return the thread's state, or None when the bot is not part of the thread."""
        async with self._r.pipeline(transaction=False) as pipe:  # one round trip for both
            pipe.get(self._thread_key(key))
            pipe.get(self._legacy_thread_key(key))
            raw, legacy = await pipe.execute()
        raw = raw if raw is not None else legacy
        return None if raw is None else ThreadState.model_validate_json(raw)

    async def save_thread(self, key: ThreadKey, state: ThreadState, ttl_s: int) -> None:
        """Store the thread's state and (re)start its time-to-live."""
        ttl_ms = _ms(ttl_s, "ttl_s")
        await self._r.set(self._thread_key(key), state.model_dump_json(), px=ttl_ms)

    async def delete_thread(self, key: ThreadKey) -> None:
        """Forget the thread."""
        await self._r.delete(self._thread_key(key), self._legacy_thread_key(key))

    # -- exactly-once -------------------------------------------------------------------------
    async def claim(self, idem_key: str, owner: str, lease_s: float) -> ClaimResult:
        """Claim `idem_key` for `owner` unless it is done or held by a live lease (even own)."""
        args = [lua.LEASED + owner, _ms(lease_s, "lease_s")]
        result = await self._claim_script(keys=[self._claim_key(idem_key)], args=args)
        return ClaimResult(_text(result))

    async def claim_in_thread(self, idem_key: str, owner: str, lease_s: float,
                              key: ThreadKey) -> tuple[ClaimResult, ThreadState | None]:
        """`claim` and `get_thread(key)` in one round trip (the claim whatever the state)."""
        args = [lua.LEASED + owner, _ms(lease_s, "lease_s")]
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.get(self._thread_key(key))
            pipe.get(self._legacy_thread_key(key))
            pipe.eval(lua.CLAIM, 1, self._claim_key(idem_key), *args)
            raw, legacy, result = await pipe.execute()
        raw = raw if raw is not None else legacy
        state = None if raw is None else ThreadState.model_validate_json(raw)
        return ClaimResult(_text(result)), state

    async def renew_claim(self, idem_key: str, owner: str, lease_s: float) -> bool:
        """Extend the lease while working; False if `owner` no longer holds it."""
        args = [lua.LEASED + owner, _ms(lease_s, "lease_s")]
        return bool(await self._renew_script(keys=[self._claim_key(idem_key)], args=args))

    async def complete_claim(self, idem_key: str, owner: str, ttl_s: int) -> None:
        """Mark done unless another owner holds a live lease (then it will complete it)."""
        args = [lua.LEASED + owner, _ms(ttl_s, "ttl_s")]
        await self._complete_script(keys=[self._claim_key(idem_key)], args=args)

    async def release_claim(self, idem_key: str, owner: str) -> None:
        """Give the claim up if `owner` holds its lease; a DONE claim stays done."""
        await self._release_script(keys=[self._claim_key(idem_key)], args=[lua.LEASED + owner])

    # -- per-thread ordering ------------------------------------------------------------------
    async def enqueue_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                           new_state: ThreadState | None = None, state_ttl_s: int = 0) -> bool:
        """Add a pending turn ordered by exact ts (False if that ts is already pending), and
        give the thread `new_state` unless it has a state: one round trip."""
        score = slack_ts_micros(message_ts)
        if score > _MAX_EXACT_SCORE:
            raise ValueError(f"Slack ts too large for an exact zset score: {message_ts!r}")
        state = "" if new_state is None else new_state.model_dump_json()
        state_ms = _ms(state_ttl_s, "state_ttl_s") if new_state is not None else 0
        keys = [*self._turn_keys(key), self._thread_key(key)]
        args = [score, message_ts, json.dumps(payload), TURN_QUEUE_TTL_S * 1000, state, state_ms]
        # EVAL, not a registered Script: redis-py checks a pipeline's scripts with an extra
        # SCRIPT EXISTS round trip. The pending index is another Cluster slot: not in the script.
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.eval(lua.ENQUEUE, len(keys), *keys, *args)
            pipe.zadd(self._pending_key(), {str(key): time.time()})
            queued, _ = await pipe.execute()
        return bool(queued)

    async def update_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any]) -> bool:
        """Replace a pending turn's payload; False (and nothing stored) if it is not pending."""
        args = [message_ts, json.dumps(payload)]
        return bool(await self._update_script(keys=self._turn_keys(key), args=args))

    async def hand_over_turn(self, key: ThreadKey, message_ts: str, payload: dict[str, Any], *,
                             claim: str, owner: str, done_ttl_s: int) -> bool:
        """Replace a pending turn's payload, mark its claim done and push the thread to the
        workers, in one round trip; False (nothing stored) if the turn is not pending."""
        turn_keys = self._turn_keys(key)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.eval(lua.UPDATE, 2, *turn_keys, message_ts, json.dumps(payload))
            pipe.eval(lua.COMPLETE, 1, self._claim_key(claim), lua.LEASED + owner,
                      _ms(done_ttl_s, "done_ttl_s"))
            pipe.rpush(self._ready_key(), str(key))
            updated, *_ = await pipe.execute()
        return bool(updated)

    async def peek_turn(self, key: ThreadKey) -> tuple[str, dict[str, Any]] | None:
        """Return the pending turn with the smallest ts, without removing it."""
        found = await self._peek_script(keys=self._turn_keys(key))
        if not found:
            return None
        ts, raw = found
        return _text(ts), json.loads(raw)

    async def remove_turn(self, key: ThreadKey, message_ts: str) -> None:
        """Drop a pending turn once it has been answered."""
        queue, payloads = self._turn_keys(key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(queue, message_ts)
            pipe.hdel(payloads, message_ts)
            pipe.zcard(queue)
            *_, left = await pipe.execute()
        if not left:
            await self._r.zrem(self._pending_key(), str(key))

    async def has_turn(self, key: ThreadKey, message_ts: str) -> bool:
        """Whether the turn with this ts is still pending."""
        return await self._r.zscore(self._turn_keys(key)[0], message_ts) is not None

    async def pending_threads(self, limit: int = 1000) -> list[ThreadKey]:
        """Threads that have queued turns (for resuming work a dead process left behind)."""
        found: list[ThreadKey] = []
        for raw in await self._r.zrange(self._pending_key(), 0, limit - 1):
            key = ThreadKey.parse(_text(raw))
            if await self._r.exists(self._turn_keys(key)[0]):
                found.append(key)
            else:  # its queue expired or was drained without the index being updated
                await self._r.zrem(self._pending_key(), _text(raw))
        return found

    # -- leases (per-thread worker lock) ------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Take the named lease if free or expired (False while anyone, even `owner`, holds it)."""
        ms = _ms(lease_s, "lease_s")
        return bool(await self._r.set(self._lease_key(name), owner, nx=True, px=ms))

    async def renew_lease(self, name: str, owner: str, lease_s: float) -> bool:
        """Extend a held lease; False if `owner` lost it."""
        args = [owner, _ms(lease_s, "lease_s")]
        return bool(await self._renew_script(keys=[self._lease_key(name)], args=args))

    async def release_lease(self, name: str, owner: str) -> None:
        """Release the lease if `owner` still holds it."""
        await self._release_script(keys=[self._lease_key(name)], args=[owner])

    # -- answer controls (Stop, feedback) -----------------------------------------------------
    async def request_cancel(self, run_id: str, by: str, ttl_s: float) -> None:
        """Remember who asked to stop `run_id`, for `ttl_s` seconds (every process sees it)."""
        await self._r.set(self._cancel_key(run_id), by, px=_ms(ttl_s, "ttl_s"))

    async def cancel_requested(self, run_id: str) -> str | None:
        """Who asked to stop `run_id`, or None."""
        raw = await self._r.get(self._cancel_key(run_id))
        return None if raw is None else _text(raw)

    async def record_feedback(self, interaction_id: str, user_id: str, value: str,
                              ttl_s: float) -> dict[str, int]:
        """Store one person's rating (replacing theirs) and return the answer's counts by value."""
        key = self._feedback_key(interaction_id)
        rating = json.dumps({"value": value, "ts": time.time()})
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, user_id, rating)
            pipe.pexpire(key, _ms(ttl_s, "ttl_s"))
            pipe.hvals(key)
            *_, ratings = await pipe.execute()
        return count_ratings(_text(raw) for raw in ratings)

    async def get_feedback(self, interaction_id: str) -> dict[str, dict[str, Any]]:
        """Ratings of an answer: user id -> {"value", "ts"}."""
        found = await self._r.hgetall(self._feedback_key(interaction_id))
        return {_text(user): json.loads(raw) for user, raw in found.items()}

    # -- hand-off from web processes to workers ----------------------------------------------
    async def notify_ready(self, key: ThreadKey) -> None:
        """Push `key` onto the list workers block on."""
        await self._r.rpush(self._ready_key(), str(key))

    async def wait_ready(self, timeout_s: float) -> ThreadKey | None:
        """BLPOP the next handed-over thread (keep `timeout_s` below the socket timeout)."""
        found = await self._r.blpop([self._ready_key()], timeout=timeout_s)
        return None if not found else ThreadKey.parse(_text(found[1]))

    # -- shared rate budgets -----------------------------------------------------------------
    async def take_token(self, bucket: str, per_s: float, capacity: float) -> float:
        """Take a token from the shared bucket (0.0), else the seconds until one is available."""
        args = [repr(positive(per_s, "per_s")), repr(float(capacity))]
        wait = await self._take_token_script(keys=[self._bucket_key(bucket)], args=args)
        return max(0.0, float(_text(wait)))

    async def pause_bucket(self, bucket: str, seconds: float) -> None:
        """Hand out no token from the shared bucket for `seconds`."""
        args = [repr(positive(seconds, "seconds"))]
        await self._pause_bucket_script(keys=[self._bucket_key(bucket)], args=args)

    # -- lifecycle ----------------------------------------------------------------------------
    async def ping(self) -> bool:
        """True when Redis answers PING."""
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the client and its pool (unless the caller kept ownership of the client)."""
        if self._owns_client:
            await self._r.aclose()
