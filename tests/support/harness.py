"""Runs the real bot (Bolt app over aiohttp, real SDK clients) against the fakes."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import build
from bot.config import Settings, load_settings
from bot.services import Services
from fakes.gemini import FakeGemini
from fakes.slack import EventSender, FakeSlack
from storage import Store

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
GEMINI_KEY = "test-key"


def bot_settings(slack: FakeSlack, gemini: FakeGemini, **overrides: Any) -> Settings:
    """Settings pointing the bot at the fakes, with fast pacing for tests."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "gemini_api_key": GEMINI_KEY,
        "gemini_base_url": gemini.base_url,
        "gemini_retry_attempts": 2,
        "gemini_timeout_s": 5.0,
        "edit_interval_s": 0.2,
        "redis_url": None,
        "spool_dir": tempfile.mkdtemp(prefix="gs-spool-"),
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class RunningBot:
    """One bot process: its services, its HTTP server, and a signed-event sender aimed at it."""

    services: Services
    runner: web.AppRunner
    url: str
    sender: EventSender
    stopped: bool = False

    async def send(self, event: dict[str, Any], **kwargs: Any) -> Any:
        """Deliver an Events API callback to this bot (signed like Slack)."""
        return await self.sender.send_event(event, **kwargs)

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until the bot has no turn in flight (stable for a short while)."""
        await settle(self.services, timeout)

    async def stop(self) -> None:
        """Shut the process down (closing its store connection and clients)."""
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


async def settle(services: Services, timeout: float = 15.0) -> None:
    """Wait until `services` has no turn in flight (stable for a short while)."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if any(t.get_name().startswith(("turn-", "control-")) for t in services.tasks):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.25:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("bot did not settle: turns still running")


async def start_bot(slack: FakeSlack, gemini: FakeGemini, store: Store,
                    **overrides: Any) -> RunningBot:
    """Start a bot process on a free port, sharing `store` semantics (a fresh client each)."""
    settings = bot_settings(slack, gemini, **overrides)
    services, web_app = await build(settings, store=store)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="127.0.0.1", port=0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/slack/events"
    sender = EventSender(url=url, signing_secret=SIGNING_SECRET, team_id=slack.team_id,
                         api_app_id="A1", bot_user_id=slack.bot_user_id)
    return RunningBot(services=services, runner=runner, url=url, sender=sender)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0,
                     message: str = "condition") -> None:
    """Poll `predicate` until true, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {message}")


def input_text(body: dict[str, Any]) -> str:
    """The user text a create request sent (the SDK wraps blocks in a user_input step)."""
    items = body.get("input")
    if isinstance(items, str):
        return items
    texts: list[str] = []
    for item in items or []:
        if item.get("type") == "user_input":
            texts += [c.get("text", "") for c in item.get("content", []) if c.get("type") == "text"]
        elif item.get("type") == "text":
            texts.append(item.get("text", ""))
    return "\n".join(texts)


async def wait_healthy(port: int, timeout: float = 60.0) -> None:
    """Wait until a bot process on `port` answers /healthz with 200 (it may still be importing
    the SDKs on a busy machine); AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the bot never became healthy")
