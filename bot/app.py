"""App assembly: Bolt app, HTTP server (events + health), Socket Mode, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.agents import register_jobs
from bot.config import Settings
from bot.digests.recording import keep_heartbeat
from bot.digests.runs import register_jobs as register_digest_jobs
from bot.logs import get_logger
from bot.metrics import delivery_type
from bot.services import Services, build_services
from bot.threads.recovery import (
    answer_handed_over_threads,
    recover_pending_turns,
    replay_spool,
)
from handlers import register_all
from storage import Store, StoreUnavailable, open_store

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

    @app.middleware
    async def observe(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        """Count every delivery (HTTP or Socket Mode) and mark it as being acked."""
        services.metrics.events_received.labels(delivery_type(body)).inc()
        with services.ack_first.acking():
            return await next()

    register_all(app, services)
    return app


def create_web_app(services: Services, bolt: AsyncApp) -> web.Application:
    """aiohttp app serving `POST /slack/events` and `GET /healthz`."""
    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app[SERVICES_KEY] = services
    web_app[BOLT_KEY] = bolt

    metrics = services.metrics

    async def events(request: web.Request) -> web.Response:
        if services.settings.socket_mode:
            raise web.HTTPNotFound(text="This bot runs in Socket Mode.")
        started = time.perf_counter()
        bolt_req = await to_bolt_request(request)
        bolt_resp = await bolt.async_dispatch(bolt_req)
        kind = delivery_type(bolt_req.body)
        metrics.ack_seconds.labels(kind).observe(time.perf_counter() - started)
        metrics.events_acked.labels(kind, str(bolt_resp.status)).inc()
        return await to_aiohttp_response(bolt_resp)

    async def metrics_page(_: web.Request) -> web.Response:
        try:
            metrics.pending_jobs.set(await services.store.jobs.count())
        except Exception:
            log.warning("pending_jobs_unknown", exc_info=True)  # the store is down: keep the last
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(_: web.Request) -> web.Response:
        if not services.ready:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        return web.json_response(health_report(services))

    async def readyz(_: web.Request) -> web.Response:
        reachable = await _store_answers(services)
        ready = services.ready and bool(services.bot_user_id) and reachable
        body = {"ok": ready, "slack_identity": bool(services.bot_user_id),
                "store": services.store.name, "store_reachable": reachable}
        return web.json_response(body, status=200 if ready else 503)

    web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics_page)
    web_app.on_startup.append(_on_startup)
    web_app.on_cleanup.append(_on_cleanup)
    return web_app


def health_report(services: Services) -> dict[str, object]:
    """Alive (HTTP 200) either way; "degraded" while the store is unreachable or the spool
    holds messages waiting for it."""
    spooled = services.spool.pending() if services.spool is not None else 0
    degraded = services.store_down_since is not None or spooled > 0
    return {"ok": True, "status": "degraded" if degraded else "ok",
            "store": services.store.name, "store_reachable": services.store_down_since is None,
            "spooled_messages": spooled}


async def _store_answers(services: Services) -> bool:
    """PING the store, bounded to a second."""
    try:
        return await asyncio.wait_for(services.store.ping(), timeout=1.0)
    except TimeoutError:
        return False


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
             store=services.store.name, role=services.settings.role)
    role = services.settings.role
    if role != "web":
        services.spawn(recover_pending_turns(services), name="recover-pending")
    if role == "worker":
        services.spawn(answer_handed_over_threads(services), name="worker")
    services.spawn(replay_spool(services), name="replay-spool")
    if role != "worker":  # digests: the processes that receive (and record) events beat
        services.spawn(keep_heartbeat(services), name="digest-heartbeat")
    if role != "web":  # a web process only acks, claims and queues
        services.spawn(services.jobs.run(), name="jobs")
    services.ready = True


async def build(settings: Settings, store: Store | None = None) -> tuple[Services, web.Application]:
    """Open the store and assemble services, the Bolt app and the web app."""
    if store is None:
        store = await open_store(settings.redis_url)
    if store.name == "memory" and settings.role != "all":
        raise StoreUnavailable(f"ROLE={settings.role} needs REDIS_URL: web and worker "
                               "processes share their work through Redis")
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

    On a signal, running answers get `SHUTDOWN_GRACE_S` to finish; new and waiting turns stay
    queued, as do answers still running after the grace (cancelled): another process or the
    next start resumes them in the same Slack message.
    """
    services, web_app = await build(settings)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    # Before taking events: the SDKs' and models' start-up objects leave the collector's scans
    # (a full collection of them paused the loop, and the acks waiting on it, 100-300 ms).
    gc.collect()
    gc.freeze()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)
    await site.start()
    log.info("listening", port=settings.port, mode="socket" if settings.socket_mode else "http")
    handler = None
    if settings.socket_mode and settings.role == "worker":
        # Envelopes go to whichever connection Slack picks: a worker must not receive (and ack
        # on the loop that streams answers); the web process acks, claims and queues.
        log.info("socket_mode_skipped", reason="ROLE=worker answers; the web process receives")
    elif settings.socket_mode:
        handler = await connect_socket_mode(web_app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting_down", grace_s=settings.shutdown_grace_s)
        await finish_running_turns(services, settings.shutdown_grace_s)
    finally:
        if handler is not None:
            with contextlib.suppress(Exception):
                await handler.close_async()
        await runner.cleanup()


def running_turns(services: Services) -> list[asyncio.Task[object]]:
    """Tasks answering (or waiting to answer) a turn or a button click."""
    return [t for t in services.tasks if t.get_name().startswith(("turn-", "control-"))
            and not t.done()]


async def finish_running_turns(services: Services, grace_s: float) -> None:
    """Stop taking new turns, and wait up to `grace_s` for running answers to finish."""
    services.draining = True
    deadline = asyncio.get_running_loop().time() + grace_s
    while (running := running_turns(services)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.wait(running, timeout=min(0.1, grace_s))
    if running := running_turns(services):
        log.warning("handing_over_turns", running=len(running))
    else:
        log.info("all_turns_finished")


async def connect_socket_mode(web_app: web.Application) -> AsyncSocketModeHandler:
    """Open the Socket Mode connection (events, commands and actions arrive over it)."""
    services = web_app[SERVICES_KEY]
    token = services.settings.slack_app_token
    if token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
    handler = AsyncSocketModeHandler(web_app[BOLT_KEY], token.get_secret_value())
    await handler.connect_async()
    return handler
