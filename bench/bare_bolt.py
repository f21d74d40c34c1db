"""A bare Bolt app (one no-op app_mention listener) on aiohttp: the ack-latency baseline.

`python -m bench.bare_bolt PORT SLACK_API_URL SIGNING_SECRET [SLACK_APP_TOKEN]`: with an app token
it receives events over Socket Mode instead (and serves only /healthz).
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.harness import BOT_TOKEN


def main(port: int, api_url: str, secret: str, app_token: str = "") -> None:
    """Serve POST /slack/events (or connect Socket Mode) until killed."""
    bolt = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url),
                    signing_secret=secret, request_verification_enabled=not app_token)

    @bolt.event("app_mention")
    async def noop(event: dict[str, Any]) -> None:
        return None

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    if app_token:
        handlers: list[AsyncSocketModeHandler] = []  # keeps the connection's tasks alive

        async def connect(_: web.Application) -> None:
            handlers.append(AsyncSocketModeHandler(bolt, app_token))
            await handlers[0].connect_async()

        async def close(_: web.Application) -> None:
            await handlers[0].close_async()

        app.on_startup.append(connect)
        app.on_cleanup.append(close)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:])
