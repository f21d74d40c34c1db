"""The long-lived objects one bot process shares between its listeners."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from google import genai
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.delivery.edit_budget import UpdateBudget
from bot.delivery.native_support import StreamSupport
from bot.gemini import make_client
from bot.jobs import JobRunner
from bot.logs import get_logger
from storage import Store

log = get_logger("services")


@dataclass
class Services:
    """Settings, clients, store and background tasks of one process."""

    settings: Settings
    store: Store
    gemini: genai.Client
    slack: AsyncWebClient
    """Retries 429s (honouring Retry-After) and server errors: for writes that must land."""
    slack_interim: AsyncWebClient
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
    jobs: JobRunner = field(init=False)
    """Runs this process's share of due jobs (background-run polls, digests)."""

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


def make_slack_clients(settings: Settings) -> tuple[AsyncWebClient, AsyncWebClient]:
    """The retrying client for final writes, and the non-retrying one for interim edits."""
    token = settings.slack_bot_token.get_secret_value()
    reliable = AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    interim = AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1)],
    )
    return reliable, interim


def build_services(settings: Settings, store: Store) -> Services:
    """Assemble the process-wide services around an opened store."""
    slack, interim = make_slack_clients(settings)
    return Services(
        settings=settings,
        store=store,
        gemini=make_client(settings),
        slack=slack,
        slack_interim=interim,
        budget=UpdateBudget(settings.updates_per_minute),
    )
