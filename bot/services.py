"""The long-lived objects one bot process shares between its listeners."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from google import genai

from bot.ack_first import AckFirst
from bot.config import Settings
from bot.delivery.edit_budget import UpdateBudget
from bot.delivery.native_support import StreamSupport
from bot.gemini import make_client
from bot.jobs import JobRunner
from bot.journal import Journal
from bot.logs import get_logger
from bot.metrics import Metrics
from bot.slack_client import (
    CountingRateLimitRetryHandler,
    SafeConnectionErrorRetryHandler,
    SafeServerErrorRetryHandler,
    SlackClient,
)
from bot.spool import Spool
from storage import Store, ThreadKey

log = get_logger("services")

SLACK_CONNECTIONS = 200
"""Connections each Slack client keeps open at most (interim edits and final writes apart)."""
KNOWN_THREADS_MAX = 10_000
"""Threads this process remembers being part of (to answer them while Redis is unreachable)."""


@dataclass
class AcceptGate:
    """One thread's line of messages showing their answers are coming, in arrival order."""

    last: asyncio.Future[None] | None = None
    """Done once the newest message in line (and every one before it) is through."""


@dataclass
class Services:
    """Settings, clients, store and background tasks of one process."""

    settings: Settings
    store: Store
    gemini: genai.Client
    slack: SlackClient
    """Retries 429s (honouring Retry-After) and server errors: for writes that must land."""
    slack_interim: SlackClient
    """No 429 retry: interim edits are skipped instead of queued when Slack pushes back."""
    budget: UpdateBudget
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-"
                       f"{uuid.uuid4().hex[:6]}")
    bot_user_id: str | None = None
    ready: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stop_signals: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    """Answers being generated in this process, by run id; Stop sets who pressed it."""
    streams: StreamSupport = field(default_factory=StreamSupport)
    """Where native streaming / thread status turned out unavailable (SLACK_STREAMING=auto)."""
    spool: Spool | None = None
    journal: Journal | None = None
    """Write-ahead journal of messages being acked (bot/journal.py)."""
    """Messages accepted while the store was unreachable, waiting to be replayed."""
    store_down_since: float | None = None
    """When the store last stopped answering (None while it answers)."""
    draining: bool = False
    """Shutting down: new turns are queued for another process instead of answered here."""
    known_threads: OrderedDict[ThreadKey, None] = field(default_factory=OrderedDict)
    accepting: dict[ThreadKey, AcceptGate] = field(default_factory=dict)
    ack_first: AckFirst = field(default_factory=AckFirst)
    """Events being acked: the turns they set off wait for a quiet moment (bot/ack_first.py)."""
    answering: set[ThreadKey] = field(default_factory=set)
    """Threads this process is answering: its own sweep must not take one whose lease lapsed
    while the store was unreachable (the lease owner is per process)."""
    """Threads with messages being accepted here: one at a time, in arrival order."""
    metrics: Metrics = field(default_factory=Metrics)
    jobs: JobRunner = field(init=False)
    """Runs this process's share of due jobs (background-run polls, digests)."""

    def remember_thread(self, key: ThreadKey) -> None:
        """Note a thread the bot is part of (bounded, most recent kept)."""
        self.known_threads[key] = None
        self.known_threads.move_to_end(key)
        while len(self.known_threads) > KNOWN_THREADS_MAX:
            self.known_threads.popitem(last=False)

    def store_failed(self) -> None:
        """Record that the store did not answer (health turns degraded)."""
        if self.store_down_since is None:
            self.store_down_since = time.time()
            log.warning("store_unreachable", store=self.store.name)

    def store_answered(self) -> None:
        """Record that the store answers again."""
        if self.store_down_since is not None:
            log.info("store_reachable_again", store=self.store.name,
                     down_s=round(time.time() - self.store_down_since, 1))
            self.store_down_since = None

    def __post_init__(self) -> None:
        self.jobs = JobRunner(self.store.jobs, self.owner)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a task this process tracks (Bolt keeps no reference to its own)."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task_failed", task=task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel background work and release connections."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()
        await self.gemini.aio.aclose()
        for client in (self.slack, self.slack_interim):
            if client.session is not None:
                await client.session.close()


def make_slack_clients(settings: Settings) -> tuple[SlackClient, SlackClient]:
    """The retrying client for final writes, and the non-retrying one for interim edits.

    Neither resends a message-creating call whose answer was lost (see bot.slack_client).
    """
    token = settings.slack_bot_token.get_secret_value()
    reliable = SlackClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        session=_keep_alive_session(30),
        retry_handlers=[
            SafeConnectionErrorRetryHandler(max_retry_count=2),
            CountingRateLimitRetryHandler(max_retry_count=5),
            SafeServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    interim = SlackClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=15,
        session=_keep_alive_session(15),
        retry_handlers=[SafeConnectionErrorRetryHandler(max_retry_count=1)],
    )
    return reliable, interim


def _keep_alive_session(timeout_s: float) -> aiohttp.ClientSession:
    """An HTTP session whose connections to Slack are reused (without one, slack-sdk opens a
    new connection, TLS handshake included, for every call). Its timeout is the client's: with
    a session, slack-sdk applies the session's."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS))


def build_services(settings: Settings, store: Store) -> Services:
    """Assemble the process-wide services around an opened store."""
    slack, interim = make_slack_clients(settings)
    services = Services(
        settings=settings,
        store=store,
        gemini=make_client(settings),
        slack=slack,
        slack_interim=interim,
        budget=UpdateBudget(settings.updates_per_minute, store=store),
        spool=Spool(settings.spool_dir),
    )
    services.journal = Journal(Path(settings.spool_dir) / "journal", owner=services.owner)
    metrics = services.metrics
    for client in (slack, interim):
        client.on_error = metrics.slack_error
        for handler in client.retry_handlers:
            if isinstance(handler, CountingRateLimitRetryHandler):
                handler.on_wait = metrics.slack_retry_wait
    spool = services.spool
    metrics.watch(
        in_flight=lambda: sum(1 for t in services.tasks if t.get_name().startswith("turn-")),
        spooled=lambda: spool.pending() if spool is not None else 0,
        store_up=lambda: 0 if services.store_down_since is not None else 1,
    )
    return services
