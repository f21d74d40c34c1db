"""Durable jobs due at a time: schedule, claim with a lease, renew, run again later, finish.

The one mechanism behind everything the bot does later rather than now: polling a background
agent run, firing a scheduled digest. A job is due at a unix time. Claiming hands a due job to
one process and pushes its due time out by a lease; a process that dies mid-job therefore drops
its claim when the lease runs out and any process picks the job up again. Every claim carries a
fencing token: a holder whose lease was taken over can no longer renew, reschedule or finish.

Redis layout (one sorted set, one hash per job; claiming is one Lua script):

    {p}:jobs:due        zset   job id -> due unix seconds (claimed: lease end)
    {p}:job:{id}        hash   kind, data (JSON), token (claims so far), owner, attempts

Callers pass `now` (unix seconds) so every process and both backends agree on time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: what to do (`kind`, `data`) and the token proving this claim holds."""

    id: str
    kind: str
    data: dict[str, Any]
    token: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job as stored, claimed or not (for listings and tests)."""

    id: str
    kind: str
    data: dict[str, Any]
    due_at: float
    owner: str | None


class JobStore(Protocol):
    """Jobs due at a time, claimed by one process at a time under a renewable lease."""

    async def schedule(self, job_id: str, kind: str, due_at: float,
                       data: dict[str, Any]) -> None:
        """Create or replace a job; a holder of the old one loses it (its token no longer holds)."""
        ...

    async def claim_due(self, owner: str, now: float, lease_s: float, limit: int) -> list[Job]:
        """Claim up to `limit` jobs due at `now`, oldest first; each is leased until now+lease."""
        ...

    async def renew(self, job: Job, now: float, lease_s: float) -> bool:
        """Extend the claim; False when the job was taken over, replaced or removed."""
        ...

    async def reschedule(self, job: Job, due_at: float, data: dict[str, Any] | None = None,
                         *, failed: bool = False) -> bool:
        """Release the claim, due again at `due_at` (with new `data`); False if not held."""
        ...

    async def finish(self, job: Job) -> bool:
        """Remove the job for good; False if the claim no longer holds (someone else has it)."""
        ...

    async def cancel(self, job_id: str) -> bool:
        """Remove the job whoever holds it; False when there was none."""
        ...

    async def get(self, job_id: str) -> ScheduledJob | None:
        """The stored job, or None."""
        ...

    async def next_due(self) -> float | None:
        """The earliest due time of any job (claimed ones: their lease end), or None."""
        ...

    async def count(self) -> int:
        """How many jobs exist (pending background runs, schedules)."""
        ...


# -- in-process backend -------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    kind: str
    data: str
    due_at: float
    token: int = 0
    owner: str | None = None
    attempts: int = 0


@dataclass
class MemoryJobs:
    """`JobStore` in this process's memory (the single-process, no-Redis mode)."""

    _jobs: dict[str, _Entry] = field(default_factory=dict)

    async def schedule(self, job_id: str, kind: str, due_at: float,
                       data: dict[str, Any]) -> None:
        old = self._jobs.get(job_id)
        self._jobs[job_id] = _Entry(kind, json.dumps(data), due_at,
                                    token=old.token + 1 if old else 0)

    async def claim_due(self, owner: str, now: float, lease_s: float, limit: int) -> list[Job]:
        due = sorted((e.due_at, job_id) for job_id, e in self._jobs.items() if e.due_at <= now)
        claimed = []
        for _, job_id in due[:limit]:
            entry = self._jobs[job_id]
            entry.token += 1
            entry.owner = owner
            entry.due_at = now + lease_s
            claimed.append(Job(job_id, entry.kind, json.loads(entry.data), entry.token,
                               entry.attempts))
        return claimed

    def _held(self, job: Job) -> _Entry | None:
        entry = self._jobs.get(job.id)
        return entry if entry is not None and entry.token == job.token else None

    async def renew(self, job: Job, now: float, lease_s: float) -> bool:
        if (entry := self._held(job)) is None:
            return False
        entry.due_at = now + lease_s
        return True

    async def reschedule(self, job: Job, due_at: float, data: dict[str, Any] | None = None,
                         *, failed: bool = False) -> bool:
        if (entry := self._held(job)) is None:
            return False
        entry.due_at, entry.owner = due_at, None
        entry.attempts = entry.attempts + 1 if failed else 0
        if data is not None:
            entry.data = json.dumps(data)
        return True

    async def finish(self, job: Job) -> bool:
        if self._held(job) is None:
            return False
        del self._jobs[job.id]
        return True

    async def cancel(self, job_id: str) -> bool:
        return self._jobs.pop(job_id, None) is not None

    async def get(self, job_id: str) -> ScheduledJob | None:
        if (e := self._jobs.get(job_id)) is None:
            return None
        return ScheduledJob(job_id, e.kind, json.loads(e.data), e.due_at, e.owner)

    async def next_due(self) -> float | None:
        return min((e.due_at for e in self._jobs.values()), default=None)

    async def count(self) -> int:
        return len(self._jobs)


# -- Redis backend --------------------------------------------------------------------------------

# KEYS[1] due zset; ARGV[1] now, ARGV[2] lease end, ARGV[3] limit, ARGV[4] owner,
# ARGV[5] job hash prefix. Returns a flat list: id, kind, data, token, attempts, ...
_CLAIM_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local h = ARGV[5] .. id
  local kind = redis.call('HGET', h, 'kind')
  if not kind then
    redis.call('ZREM', KEYS[1], id)
  else
    local token = redis.call('HINCRBY', h, 'token', 1)
    redis.call('HSET', h, 'owner', ARGV[4])
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    local attempts = redis.call('HGET', h, 'attempts') or '0'
    table.insert(out, id)
    table.insert(out, kind)
    table.insert(out, redis.call('HGET', h, 'data'))
    table.insert(out, tostring(token))
    table.insert(out, attempts)
  end
end
return out
"""

# KEYS[1] due zset, KEYS[2] job hash; ARGV[1] token, ARGV[2] op, ARGV[3] due, ARGV[4] data,
# ARGV[5] "1" when the run failed (count an attempt), ARGV[6] id. op: renew|reschedule|finish.
_HELD_LUA = """
if redis.call('HGET', KEYS[2], 'token') ~= ARGV[1] then return 0 end
local id = ARGV[6]
if ARGV[2] == 'finish' then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], id)
  return 1
end
redis.call('ZADD', KEYS[1], ARGV[3], id)
if ARGV[2] == 'reschedule' then
  redis.call('HDEL', KEYS[2], 'owner')
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'data', ARGV[4]) end
  if ARGV[5] == '1' then
    redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  else
    redis.call('HSET', KEYS[2], 'attempts', 0)
  end
end
return 1
"""

# KEYS[1] due zset, KEYS[2] job hash; ARGV[1] id, ARGV[2] kind, ARGV[3] data, ARGV[4] due.
_SCHEDULE_LUA = """
redis.call('HINCRBY', KEYS[2], 'token', 1)
redis.call('HSET', KEYS[2], 'kind', ARGV[2], 'data', ARGV[3], 'attempts', 0)
redis.call('HDEL', KEYS[2], 'owner')
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
"""


class RedisJobs:
    """`JobStore` on Redis, shared by every bot process."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._r = client
        self._due = f"{prefix}:jobs:due"
        self._hash_prefix = f"{prefix}:job:"
        self._claim = client.register_script(_CLAIM_LUA)
        self._held = client.register_script(_HELD_LUA)
        self._schedule = client.register_script(_SCHEDULE_LUA)

    def _hash(self, job_id: str) -> str:
        return self._hash_prefix + job_id

    async def schedule(self, job_id: str, kind: str, due_at: float,
                       data: dict[str, Any]) -> None:
        await self._schedule(keys=[self._due, self._hash(job_id)],
                             args=[job_id, kind, json.dumps(data), repr(due_at)])

    async def claim_due(self, owner: str, now: float, lease_s: float, limit: int) -> list[Job]:
        flat = await self._claim(keys=[self._due], args=[repr(now), repr(now + lease_s),
                                                           limit, owner, self._hash_prefix])
        return [Job(_s(flat[i]), _s(flat[i + 1]), json.loads(_s(flat[i + 2])),
                    int(flat[i + 3]), int(flat[i + 4]))
                for i in range(0, len(flat), 5)]

    async def _when_held(self, job: Job, op: str, due_at: float = 0.0, data: str = "",
                         failed: bool = False) -> bool:
        done = await self._held(keys=[self._due, self._hash(job.id)],
                                args=[str(job.token), op, repr(due_at), data,
                                      "1" if failed else "0", job.id])
        return bool(done)

    async def renew(self, job: Job, now: float, lease_s: float) -> bool:
        return await self._when_held(job, "renew", now + lease_s)

    async def reschedule(self, job: Job, due_at: float, data: dict[str, Any] | None = None,
                         *, failed: bool = False) -> bool:
        encoded = "" if data is None else json.dumps(data)
        return await self._when_held(job, "reschedule", due_at, encoded, failed)

    async def finish(self, job: Job) -> bool:
        return await self._when_held(job, "finish")

    async def cancel(self, job_id: str) -> bool:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._hash(job_id))
            pipe.zrem(self._due, job_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def get(self, job_id: str) -> ScheduledJob | None:
        fields = await self._r.hgetall(self._hash(job_id))
        if not fields:
            return None
        values = {_s(k): _s(v) for k, v in fields.items()}
        due = await self._r.zscore(self._due, job_id)
        return ScheduledJob(job_id, values["kind"], json.loads(values["data"]),
                            float(due or 0.0), values.get("owner"))

    async def next_due(self) -> float | None:
        first = await self._r.zrange(self._due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def count(self) -> int:
        return int(await self._r.zcard(self._due))


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
