"""The whole playground: fake Slack, offline or real Gemini, the real bot, and the web page."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.app import build
from bot.config import Settings, gemini_key_configured, load_settings
from bot.services import Services
from fakes.gemini import FakeGemini
from fakes.slack import EventSender, FakeSlack
from playground.bridge import Bridge
from playground.demo_model import LABEL, responder
from playground.feed import Feed
from playground.web import create_page_app
from storage import Store

YOU = "UYOU"
"""The person using the playground."""
CHANNELS = (("C0GENERAL", "general"), ("C0RANDOM", "random"))
DM = "D0GEMINI"
BOT_TOKEN = "xoxb-playground"


def new_workspace() -> FakeSlack:
    """A fake workspace: you, the bot, #general, #random and a DM with the bot."""
    slack = FakeSlack(bot_token=BOT_TOKEN, app_token="xapp-playground", team_id="T0PLAY",
                      bot_user_id="U0GEMINI", bot_id="B0GEMINI", api_app_id="A0GEMINI")
    slack.team_name = "Playground"
    slack.add_user(YOU, name="you", real_name="You")
    for channel_id, name in CHANNELS:
        slack.add_channel(channel_id, name=name)
    slack.add_channel(DM, is_im=True, user=YOU)
    return slack


@dataclass
class Playground:
    """A running playground; `url` is the page."""

    slack: FakeSlack
    gemini: FakeGemini | None
    services: Services
    bridge: Bridge
    feed: Feed
    bot_runner: web.AppRunner
    page_runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        """Shut everything down, page first."""
        await self.feed.stop()
        await self.page_runner.cleanup()
        await self.bridge.drain()
        await self.bot_runner.cleanup()
        await self.slack.stop()
        if self.gemini is not None:
            await self.gemini.stop(check=False)


def playground_settings(slack: FakeSlack, gemini: FakeGemini | None, signing_secret: str,
                        **overrides: Any) -> Settings:
    """Bot settings pointing at the fake Slack (and the offline model unless a key is set)."""
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token, "slack_signing_secret": signing_secret,
        "slack_app_token": "", "slack_api_url": slack.api_url,
    }
    if gemini is not None:
        values.update(gemini_api_key=gemini.api_key, gemini_base_url=gemini.base_url)
    if "LOG_LEVEL" not in os.environ:
        values["log_level"] = "error"
    values.update(overrides)
    return load_settings(**values)


async def start_playground(host: str = "127.0.0.1", port: int = 3000, *,
                           real_gemini: bool | None = None, store: Store | None = None,
                           **overrides: Any) -> Playground:
    """Start every part; the page listens on host:port (0 = a free port)."""
    slack = await new_workspace().start()
    gemini: FakeGemini | None = None
    started: list[web.AppRunner] = []
    feed: Feed | None = None
    try:
        if not (gemini_key_configured() if real_gemini is None else real_gemini):
            gemini = FakeGemini(api_key="offline-demo-key")
            await gemini.start()
        secret = secrets.token_hex(16)
        settings = playground_settings(slack, gemini, secret, **overrides)
        if gemini is not None:
            gemini.responder = responder(settings.gemini_image_model)
        services, bot_app = await build(settings, store=store)
        bot_runner = web.AppRunner(bot_app, access_log=None, shutdown_timeout=5.0)
        await bot_runner.setup()
        started.append(bot_runner)
        bot_site = web.TCPSite(bot_runner, host="127.0.0.1", port=0)
        await bot_site.start()
        bot_port = bot_runner.addresses[0][1]
        sender = EventSender(f"http://127.0.0.1:{bot_port}/slack/events", secret,
                             team_id=slack.team_id, api_app_id=slack.api_app_id,
                             bot_user_id=slack.bot_user_id)
        feed = Feed(slack, YOU, [sender.sent, *([gemini.requests] if gemini else [])])
        feed.start()
        bridge = Bridge(slack, sender, feed, YOU)
        label = LABEL if gemini is not None else f"Gemini API — model {settings.gemini_model}"
        page_app = create_page_app(bridge, label, lambda: services.ready)
        page_runner = web.AppRunner(page_app, access_log=None, shutdown_timeout=1.0)
        await page_runner.setup()
        started.append(page_runner)
        await web.TCPSite(page_runner, host=host, port=port).start()
        page_port = page_runner.addresses[0][1]
    except BaseException:
        if feed is not None:
            await feed.stop()
        for runner in reversed(started):
            await runner.cleanup()
        await slack.stop()
        if gemini is not None:
            await gemini.stop(check=False)
        raise
    return Playground(slack, gemini, services, bridge, feed, bot_runner, page_runner,
                      f"http://{host}:{page_port}/")
