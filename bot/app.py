"""App assembly: Bolt app, HTTP server (events + health), Socket Mode, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.agents import register_jobs
from bot.config import Settings
from bot.digests.recording import keep_heartbeat
from bot.digests.runs import register_jobs as register_digest_jobs
from bot.logs import get_logger
from bot.services import Services, build_services
from bot.threads.recovery import recover_pending_turns
from handlers import register_all
from storage import Store, open_store

log = get_logger("app")

EVENTS_PATH = "/slack/events"
SERVICES_KEY = web.AppKey("services", Services)
BOLT_KEY = web.AppKey("bolt", AsyncApp)


def create_bolt_app(services: Services) -> AsyncApp:
    """The Bolt app with every listener registered."""
    settings = services.settings
    signing = settings.slack_signing_secret
    secret = signing.get_secret_value() if signing else None
    app = AsyncApp(
        client=services.slack,
        signing_secret=secret,
        process_before_response=False,
        request_verification_enabled=not settings.socket_mode,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )
    register_all(app, services)
    return app


def create_web_app(services: Services, bolt: AsyncApp) -> web.Application:
    """aiohttp app serving `POST /slack/events` and `GET /healthz`."""
    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app[SERVICES_KEY] = services
    web_app[BOLT_KEY] = bolt

    async def events(request: web.Request) -> web.Response:
        if services.settings.socket_mode:
            raise web.HTTPNotFound(text="This bot runs in Socket Mode.")
        bolt_req = await to_bolt_request(request)
        bolt_resp = await bolt.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    async def healthz(_: web.Request) -> web.Response:
        if not services.ready:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        return web.json_response({"ok": True, "store": services.store.name})

    web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/healthz", healthz)
    web_app.on_startup.append(_on_startup)
    web_app.on_cleanup.append(_on_cleanup)
    return web_app


async def _on_startup(web_app: web.Application) -> None:
    services = web_app[SERVICES_KEY]
    await start_services(services)


async def _on_cleanup(web_app: web.Application) -> None:
    services = web_app[SERVICES_KEY]
    services.ready = False
    await services.aclose()


async def start_services(services: Services) -> None:
    """Learn the bot's identity, resume turns a dead process left queued, then report ready."""
    auth = await services.slack.auth_test()
    services.bot_user_id = str(auth.get("user_id") or "") or None
    log.info("slack_connected", team=auth.get("team_id"), bot_user=services.bot_user_id,
             store=services.store.name)
    services.spawn(recover_pending_turns(services), name="recover-pending")
    services.spawn(keep_heartbeat(services), name="digest-heartbeat")
    services.spawn(services.jobs.run(), name="jobs")
    services.ready = True


async def build(settings: Settings, store: Store | None = None) -> tuple[Services, web.Application]:
    """Open the store and assemble services, the Bolt app and the web app."""
    if store is None:
        store = await open_store(settings.redis_url)
    if store.name == "memory":
        log.warning("in_process_store", note="REDIS_URL is not set: conversation state lives in "
                    "this process only; run a single process and expect it to be lost on restart")
    services = build_services(settings, store)
    services.jobs.lease_s = settings.job_lease_s
    register_jobs(services)
    register_digest_jobs(services)
    bolt = create_bolt_app(services)
    return services, create_web_app(services, bolt)


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT/SIGTERM: HTTP mode, or Socket Mode plus the health endpoint.

    On a signal, running turns are cancelled and stay queued; the next process resumes them.
    """
    _services, web_app = await build(settings)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)
    await site.start()
    log.info("listening", port=settings.port, mode="socket" if settings.socket_mode else "http")
    handler = await connect_socket_mode(web_app) if settings.socket_mode else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting_down")
    finally:
        if handler is not None:
            with contextlib.suppress(Exception):
                await handler.close_async()
        await runner.cleanup()


async def connect_socket_mode(web_app: web.Application) -> AsyncSocketModeHandler:
    """Open the Socket Mode connection (events, commands and actions arrive over it)."""
    services = web_app[SERVICES_KEY]
    token = services.settings.slack_app_token
    if token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
    handler = AsyncSocketModeHandler(web_app[BOLT_KEY], token.get_secret_value())
    await handler.connect_async()
    return handler
