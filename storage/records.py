"""Small JSON records by kind and id, updated atomically, plus sorted indexes to list them.

For state that is not a thread's conversation: a background run's record (who asked, where its
card is, what was posted), a channel's digest schedule. Updates merge fields atomically and can
be fenced on a field's current value, so two processes never both win the same step.

Redis layout:

    {p}:rec:{kind}:{id}      string  record JSON, PX = ttl
    {p}:idx:{index}          zset    record id -> score (e.g. start time), for listings
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import WatchError


class RecordStore(Protocol):
    """JSON records with a TTL, merged atomically; zset-like indexes over their ids."""

    async def put(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> None:
        """Create or replace a record and (re)start its TTL."""
        ...

    async def create(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> bool:
        """Create the record only if it does not exist; False when it already did."""
        ...

    async def get(self, kind: str, rec_id: str) -> dict[str, Any] | None:
        """The record, or None when absent or expired."""
        ...

    async def update(self, kind: str, rec_id: str, changes: dict[str, Any],
                     *, expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Merge `changes` into the record (keeping its TTL) when every `expect` field has the
        given value (None matches a missing field); the merged record, or None if refused."""
        ...

    async def delete(self, kind: str, rec_id: str) -> None:
        """Remove the record."""
        ...

    async def index_add(self, index: str, rec_id: str, score: float) -> None:
        """Add (or re-score) an id in a named index."""
        ...

    async def index_remove(self, index: str, rec_id: str) -> None:
        """Drop an id from a named index."""
        ...

    async def index_list(self, index: str, limit: int = 100, *,
                         newest_first: bool = True) -> list[str]:
        """Ids of an index by score."""
        ...


@dataclass
class MemoryRecords:
    """`RecordStore` in this process's memory."""

    _records: dict[str, tuple[str, float]] = field(default_factory=dict)
    _indexes: dict[str, dict[str, float]] = field(default_factory=dict)

    def _live(self, key: str) -> str | None:
        entry = self._records.get(key)
        if entry is None or entry[1] <= time.time():
            self._records.pop(key, None)
            return None
        return entry[0]

    async def put(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> None:
        self._records[f"{kind}:{rec_id}"] = (json.dumps(record), time.time() + ttl_s)

    async def create(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> bool:
        if self._live(f"{kind}:{rec_id}") is not None:
            return False
        await self.put(kind, rec_id, record, ttl_s)
        return True

    async def get(self, kind: str, rec_id: str) -> dict[str, Any] | None:
        raw = self._live(f"{kind}:{rec_id}")
        return None if raw is None else json.loads(raw)

    async def update(self, kind: str, rec_id: str, changes: dict[str, Any],
                     *, expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        key = f"{kind}:{rec_id}"
        raw = self._live(key)
        if raw is None:
            return None
        record = json.loads(raw)
        if not _matches(record, expect):
            return None
        record.update(json.loads(json.dumps(changes)))
        self._records[key] = (json.dumps(record), self._records[key][1])
        return record

    async def delete(self, kind: str, rec_id: str) -> None:
        self._records.pop(f"{kind}:{rec_id}", None)

    async def index_add(self, index: str, rec_id: str, score: float) -> None:
        self._indexes.setdefault(index, {})[rec_id] = score

    async def index_remove(self, index: str, rec_id: str) -> None:
        self._indexes.get(index, {}).pop(rec_id, None)

    async def index_list(self, index: str, limit: int = 100, *,
                         newest_first: bool = True) -> list[str]:
        items = sorted(self._indexes.get(index, {}).items(), key=lambda kv: kv[1],
                       reverse=newest_first)
        return [rec_id for rec_id, _ in items[:limit]]


def _matches(record: dict[str, Any], expect: dict[str, Any] | None) -> bool:
    return all(record.get(k) == v for k, v in (expect or {}).items())


class RedisRecords:
    """`RecordStore` on Redis, shared by every bot process."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._r = client
        self._p = prefix

    def _key(self, kind: str, rec_id: str) -> str:
        return f"{self._p}:rec:{kind}:{rec_id}"

    def _index(self, index: str) -> str:
        return f"{self._p}:idx:{index}"

    async def put(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> None:
        await self._r.set(self._key(kind, rec_id), json.dumps(record),
                          px=max(1, round(ttl_s * 1000)))

    async def create(self, kind: str, rec_id: str, record: dict[str, Any], ttl_s: float) -> bool:
        made = await self._r.set(self._key(kind, rec_id), json.dumps(record),
                                 px=max(1, round(ttl_s * 1000)), nx=True)
        return bool(made)

    async def get(self, kind: str, rec_id: str) -> dict[str, Any] | None:
        raw = await self._r.get(self._key(kind, rec_id))
        return None if raw is None else json.loads(raw)

    async def update(self, kind: str, rec_id: str, changes: dict[str, Any],
                     *, expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        # Optimistic transaction: re-read and retry if another process wrote meanwhile.
        key = self._key(kind, rec_id)
        async with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return None
                    record = json.loads(raw)
                    if not _matches(record, expect):
                        return None
                    record.update(changes)
                    pipe.multi()
                    pipe.set(key, json.dumps(record), keepttl=True)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue

    async def delete(self, kind: str, rec_id: str) -> None:
        await self._r.delete(self._key(kind, rec_id))

    async def index_add(self, index: str, rec_id: str, score: float) -> None:
        await self._r.zadd(self._index(index), {rec_id: score})

    async def index_remove(self, index: str, rec_id: str) -> None:
        await self._r.zrem(self._index(index), rec_id)

    async def index_list(self, index: str, limit: int = 100, *,
                         newest_first: bool = True) -> list[str]:
        ids = await self._r.zrange(self._index(index), 0, limit - 1, desc=newest_first)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
