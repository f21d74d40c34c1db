"""Fixtures for the playground: the whole stack in-process (fake Slack, demo model, real bot)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from playground.stack import Playground, start_playground
from storage import MemoryStore


@pytest.fixture
async def playground() -> AsyncIterator[Playground]:
    """A running playground on a free port with the offline demo model."""
    running = await start_playground("127.0.0.1", 0, real_gemini=False, store=MemoryStore())
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the page's endpoints."""
    async with aiohttp.ClientSession() as session:
        yield session


class FeedReader:
    """Reads the page's server-sent events the way the page does."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.items: dict[str, dict[str, Any]] = {}
        self.updates = 0

    async def next_update(self) -> dict[str, Any]:
        """The next `data:` event, applied to `items`."""
        while True:
            line = (await self.resp.content.readline()).decode()
            if not line:
                raise AssertionError("the event stream ended")
            if line.startswith("data: "):
                update = json.loads(line[6:])
                if update["reset"]:
                    self.items.clear()
                for item in update["items"]:
                    if item["kind"] == "gone":
                        self.items.pop(item["key"], None)
                    else:
                        self.items[item["key"]] = item
                self.updates += 1
                return update

    async def until(self, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
        """Read updates until some item satisfies `predicate`; return that item."""
        async def scan() -> dict[str, Any]:
            while True:
                for item in self.items.values():
                    if predicate(item):
                        return item
                await self.next_update()
        return await asyncio.wait_for(scan(), timeout)


@pytest.fixture
async def feed(playground: Playground,
               http: aiohttp.ClientSession) -> AsyncIterator[FeedReader]:
    """The page's live feed, already past its first (full) update."""
    async with http.get(playground.url + "events") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        reader = FeedReader(resp)
        first = await reader.next_update()
        assert first["reset"] is True
        yield reader
