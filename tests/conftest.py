"""Shared pytest fixtures: a Redis to test against, and a fresh `Store` of each backend."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis

from storage import MemoryStore, RedisStore, Store
from tests.support.redis_server import RedisServer, RedisServerError

# -- Redis ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the Redis used by the tests.

    `REDIS_URL` from the environment when set (CI service); it must point at a DISPOSABLE
    database, because `redis_flushed` empties it. Otherwise a throwaway local redis-server
    is started once per session. A missing redis-server binary fails loudly, never skips.
    """
    if env_url := os.environ.get("REDIS_URL"):
        yield env_url
        return
    try:
        server = RedisServer().start()
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_flushed(redis_url: str) -> str:
    """`redis_url` with its database emptied first, so each test starts from a clean Redis."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


# -- Store of each backend --------------------------------------------------------------------


class ManualClock:
    """A monotonic clock tests move by hand, so MemoryStore expiry needs no real sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    """The manual clock given to the `store` fixture's MemoryStore."""
    return ManualClock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Store]:
    """A fresh store of each backend; the Redis one only starts/flushes Redis when requested."""
    if request.param == "memory":
        made: Store = MemoryStore(clock=clock)
    else:
        made = RedisStore.from_url(request.getfixturevalue("redis_flushed"))
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def elapse(store: Store, clock: ManualClock) -> Callable[[float], Awaitable[None]]:
    """Let time pass for `store`: instantly for MemoryStore's manual clock, really for Redis."""

    async def _elapse(seconds: float) -> None:
        if isinstance(store, MemoryStore):
            clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    return _elapse
