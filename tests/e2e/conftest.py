"""Fixtures for end-to-end tests: the fakes, and the real bot running against them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from storage import MemoryStore, RedisStore, Store
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, RunningBot, start_bot

BotFactory = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack workspace with channel C1, a DM D1 with alice, and users alice and bob."""
    fake = FakeSlack(bot_token=BOT_TOKEN, app_token="xapp-test", team_id="T1",
                     bot_user_id="UBOT", bot_id="BBOT")
    await fake.start()
    fake.add_user("U1", name="alice")
    fake.add_user("U2", name="bob")
    fake.add_channel("C1", name="general")
    fake.add_channel("D1", is_im=True, user="U1")
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    """A fake Gemini Interactions API."""
    fake = FakeGemini(api_key=GEMINI_KEY)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def make_bot(slack: FakeSlack, gemini: FakeGemini,
                   redis_flushed: str) -> AsyncIterator[BotFactory]:
    """Start bot processes on the shared Redis (each with its own connection), stop them after."""
    bots: list[RunningBot] = []

    async def factory(store: Store | None = None, **overrides: Any) -> RunningBot:
        running = await start_bot(slack, gemini, store or RedisStore.from_url(redis_flushed),
                                  **overrides)
        bots.append(running)
        return running

    try:
        yield factory
    finally:
        for running in bots:
            await running.stop()


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    """One bot process on Redis."""
    return await make_bot()


@pytest.fixture
async def memory_bot(make_bot: BotFactory) -> RunningBot:
    """One bot process on the in-process store."""
    return await make_bot(store=MemoryStore())
