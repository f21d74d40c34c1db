"""A bare Bolt app (one no-op app_mention listener) on aiohttp: the ack-latency baseline.

`python -m bench.bare_bolt PORT SLACK_API_URL SIGNING_SECRET`
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.harness import BOT_TOKEN


def main(port: int, api_url: str, secret: str) -> None:
    """Serve POST /slack/events until killed."""
    bolt = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url),
                    signing_secret=secret)

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
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
