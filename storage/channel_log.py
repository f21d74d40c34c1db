"""The record of a channel's recent messages, kept for channels with a digest schedule.

Digests are built from this record instead of `conversations.history` (which Slack limits to one
request a minute and 15 messages a page for many apps). A channel's record starts when its
schedule is created (`start`) and is dropped when the schedule is removed (`drop`); messages
older than the retention (8 days, the longest digest window) are trimmed as new ones arrive and
the whole record expires after a retention without messages. Edits and deletes are applied.

Stretches when no bot process was receiving events are kept as gaps (`add_gap`), so a reader
knows which parts of a window the record lacks and must fill from history.

Redis layout (one channel's keys share a hash tag):

    {p}:chlog:{<team>:<channel>}:ts      zset    message ts -> float ts (time order)
    {p}:chlog:{<team>:<channel>}:msg     hash    message ts -> JSON {ts,user,text,thread_ts}
    {p}:chlog:{<team>:<channel>}:since   string  unix time recording started (no TTL)
    {p}:chlog:gaps                       zset    "<start>:<end>" -> end (unix seconds)
    {p}:chlog:alive                      string  last time a process said it was receiving
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

RETENTION_S = 8 * 86_400
"""How long a recorded message is kept: the longest digest window (7 days) plus a day."""


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """One recorded message: who wrote what, when, and in which thread."""

    ts: str
    user: str
    text: str
    thread_ts: str | None = None

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> LoggedMessage:
        """Inverse of `to_json`."""
        return cls(**json.loads(raw))


class ChannelLog(Protocol):
    """Recent messages of recorded channels, with the stretches the record lacks."""

    async def start(self, team: str, channel: str, now: float) -> float:
        """Begin recording the channel (kept if already recording); when recording began."""
        ...

    async def since(self, team: str, channel: str) -> float | None:
        """When recording of the channel began, or None when it is not recorded."""
        ...

    async def drop(self, team: str, channel: str) -> None:
        """Stop recording the channel and forget its messages."""
        ...

    async def add(self, team: str, channel: str, msg: LoggedMessage, now: float) -> None:
        """Record (or replace) a message, trimming what is past the retention."""
        ...

    async def edit(self, team: str, channel: str, ts: str, text: str) -> bool:
        """Change a recorded message's text; False when it is not recorded."""
        ...

    async def delete(self, team: str, channel: str, ts: str) -> None:
        """Forget a recorded message (and nothing else)."""
        ...

    async def between(self, team: str, channel: str, oldest: float,
                      latest: float) -> list[LoggedMessage]:
        """Recorded messages with oldest < ts <= latest, oldest first."""
        ...

    async def add_gap(self, start: float, end: float) -> None:
        """No process was receiving events from `start` to `end`."""
        ...

    async def gaps(self, oldest: float, latest: float) -> list[tuple[float, float]]:
        """Gaps overlapping (oldest, latest], in time order."""
        ...

    async def heartbeat(self, now: float) -> float | None:
        """Say a process is receiving events now; the previous heartbeat (None: first ever)."""
        ...


def _ts(value: str) -> float:
    return float(value)


# -- in-process backend -------------------------------------------------------------------------


@dataclass
class MemoryChannelLog:
    """`ChannelLog` in this process's memory."""

    _messages: dict[str, dict[str, LoggedMessage]] = field(default_factory=dict)
    _since: dict[str, float] = field(default_factory=dict)
    _gaps: list[tuple[float, float]] = field(default_factory=list)
    _alive: float | None = None

    async def start(self, team: str, channel: str, now: float) -> float:
        return self._since.setdefault(f"{team}:{channel}", now)

    async def since(self, team: str, channel: str) -> float | None:
        return self._since.get(f"{team}:{channel}")

    async def drop(self, team: str, channel: str) -> None:
        self._since.pop(f"{team}:{channel}", None)
        self._messages.pop(f"{team}:{channel}", None)

    async def add(self, team: str, channel: str, msg: LoggedMessage, now: float) -> None:
        log = self._messages.setdefault(f"{team}:{channel}", {})
        log[msg.ts] = msg
        cutoff = now - RETENTION_S
        for ts in [ts for ts in log if _ts(ts) < cutoff]:
            del log[ts]

    async def edit(self, team: str, channel: str, ts: str, text: str) -> bool:
        log = self._messages.get(f"{team}:{channel}", {})
        if ts not in log:
            return False
        old = log[ts]
        log[ts] = LoggedMessage(old.ts, old.user, text, old.thread_ts)
        return True

    async def delete(self, team: str, channel: str, ts: str) -> None:
        self._messages.get(f"{team}:{channel}", {}).pop(ts, None)

    async def between(self, team: str, channel: str, oldest: float,
                      latest: float) -> list[LoggedMessage]:
        log = self._messages.get(f"{team}:{channel}", {})
        found = [m for m in log.values() if oldest < _ts(m.ts) <= latest]
        return sorted(found, key=lambda m: _ts(m.ts))

    async def add_gap(self, start: float, end: float) -> None:
        self._gaps = [g for g in self._gaps if g[1] >= end - RETENTION_S]
        self._gaps.append((start, end))

    async def gaps(self, oldest: float, latest: float) -> list[tuple[float, float]]:
        return sorted(g for g in self._gaps if g[1] > oldest and g[0] <= latest)

    async def heartbeat(self, now: float) -> float | None:
        previous, self._alive = self._alive, now
        return previous


# -- Redis backend --------------------------------------------------------------------------------

# KEYS[1] ts zset, KEYS[2] msg hash; ARGV[1] ts, ARGV[2] json, ARGV[3] cutoff, ARGV[4] ttl ms.
_ADD_LUA = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, 500)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return #old
"""

# KEYS[1] msg hash; ARGV[1] ts, ARGV[2] new text.
_EDIT_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local msg = cjson.decode(raw)
msg['text'] = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(msg))
return 1
"""


class RedisChannelLog:
    """`ChannelLog` on Redis, shared by every bot process."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._r = client
        self._p = f"{prefix}:chlog"
        self._add = client.register_script(_ADD_LUA)
        self._edit = client.register_script(_EDIT_LUA)

    def _keys(self, team: str, channel: str) -> tuple[str, str, str]:
        base = f"{self._p}:{{{team}:{channel}}}"
        return f"{base}:ts", f"{base}:msg", f"{base}:since"

    async def start(self, team: str, channel: str, now: float) -> float:
        since_key = self._keys(team, channel)[2]
        await self._r.set(since_key, repr(now), nx=True)
        return float(await self._r.get(since_key) or now)

    async def since(self, team: str, channel: str) -> float | None:
        raw = await self._r.get(self._keys(team, channel)[2])
        return None if raw is None else float(raw)

    async def drop(self, team: str, channel: str) -> None:
        await self._r.delete(*self._keys(team, channel))

    async def add(self, team: str, channel: str, msg: LoggedMessage, now: float) -> None:
        zset, hashed, _ = self._keys(team, channel)
        await self._add(keys=[zset, hashed], args=[msg.ts, msg.to_json(),
                                                   repr(now - RETENTION_S), RETENTION_S * 1000])

    async def edit(self, team: str, channel: str, ts: str, text: str) -> bool:
        return bool(await self._edit(keys=[self._keys(team, channel)[1]], args=[ts, text]))

    async def delete(self, team: str, channel: str, ts: str) -> None:
        zset, hashed, _ = self._keys(team, channel)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(zset, ts)
            pipe.hdel(hashed, ts)
            await pipe.execute()

    async def between(self, team: str, channel: str, oldest: float,
                      latest: float) -> list[LoggedMessage]:
        zset, hashed, _ = self._keys(team, channel)
        ids = await self._r.zrangebyscore(zset, f"({oldest!r}", repr(latest))
        if not ids:
            return []
        raws = await self._r.hmget(hashed, ids)
        return [LoggedMessage.from_json(raw) for raw in raws if raw is not None]

    async def add_gap(self, start: float, end: float) -> None:
        key = f"{self._p}:gaps"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{start!r}:{end!r}": end})
            pipe.zremrangebyscore(key, "-inf", f"({end - RETENTION_S!r}")
            await pipe.execute()

    async def gaps(self, oldest: float, latest: float) -> list[tuple[float, float]]:
        members = await self._r.zrangebyscore(f"{self._p}:gaps", f"({oldest!r}", "+inf")
        out = []
        for member in members:
            start, end = (float(x) for x in _s(member).split(":"))
            if start <= latest:
                out.append((start, end))
        return sorted(out)

    async def heartbeat(self, now: float) -> float | None:
        previous = await self._r.set(f"{self._p}:alive", repr(now), get=True)
        return None if previous is None else float(previous)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
