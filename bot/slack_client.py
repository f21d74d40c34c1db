"""The Slack Web API client: retries that cannot post twice, and every error counted.

slack-sdk's server-error and connection-error retry handlers resend a request whose answer
was lost, which for a message-creating method can post it twice (Slack acted, then the
answer failed). Here those methods are resent only when the request never reached Slack
(connect failed) or, for `chat.postMessage`, after checking the thread for the message.
429s are retried for every method: Slack did nothing then.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.logs import get_logger

log = get_logger("slack_client")

CREATES = frozenset({
    "chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "chat.meMessage",
    "chat.startStream", "chat.appendStream", "files.upload", "files.completeUploadExternal",
})
"""Methods that add something each time they run: never blindly resent."""

ErrorHook = Callable[[str, str, int], None]
"""Called with (method, error code, HTTP status) for every failed Web API call."""


def api_method(url: str) -> str:
    """`chat.postMessage` from `https://slack.com/api/chat.postMessage?…`."""
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


class SafeServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Retries 5xx answers, except for methods that create something."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        if api_method(request.url) in CREATES:
            return False
        return await super()._can_retry_async(state=state, request=request, response=response,
                                              error=error)


class SafeConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    """Retries connection failures; for methods that create something, only when the
    connection was never made (the request cannot have reached Slack)."""

    def __init__(self, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count,
                         error_types=[aiohttp.ServerConnectionError, aiohttp.ClientOSError])

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        if api_method(request.url) in CREATES and not isinstance(
                error, aiohttp.ClientConnectorError):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response,
                                              error=error)


class CountingRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Retries 429s after Retry-After, reporting each wait to `on_wait(method, seconds)`."""

    def __init__(self, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.on_wait: Callable[[str, float], None] | None = None

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        if response is not None and self.on_wait is not None:
            headers = {k.lower(): v for k, v in response.headers.items()}
            raw = headers.get("retry-after", ["1"])
            try:
                wait = float(raw[0] if isinstance(raw, list) else raw)
            except ValueError:
                wait = 1.0
            self.on_wait(api_method(request.url), wait)
        await super().prepare_for_next_attempt_async(state=state, request=request,
                                                     response=response, error=error)


_LOST_ANSWER = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, asyncio.TimeoutError)


class SlackClient(AsyncWebClient):
    """AsyncWebClient that reports errors to `on_error` and posts a message at most once."""

    on_error: ErrorHook | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        """Every Web API call; failures are reported to `on_error`."""
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self._report(api_method, str(exc.response.get("error") or "unknown"),
                         int(getattr(exc.response, "status_code", 0) or 0))
            raise
        except _LOST_ANSWER as exc:
            self._report(api_method, type(exc).__name__, 0)
            raise

    def _report(self, method: str, code: str, status: int) -> None:
        if self.on_error is not None:
            self.on_error(method, code, status)

    async def chat_postMessage(self, **kwargs: Any) -> AsyncSlackResponse:  # type: ignore[override]
        """Post once: when the answer is lost (5xx, reset, timeout), look for the message in
        the thread before posting it again."""
        started = time.time()
        try:
            return await super().chat_postMessage(**kwargs)
        except SlackApiError as exc:
            if int(getattr(exc.response, "status_code", 0) or 0) < 500:
                raise
            lost: Exception = exc
        except _LOST_ANSWER as exc:
            lost = exc
        try:
            found = await self._find_posted(kwargs, started)
        except Exception:
            raise lost from None  # cannot tell whether it was posted: don't risk a duplicate
        if found is not None:
            log.warning("post_answer_lost_message_found", method="chat.postMessage")
            return found
        log.warning("post_answer_lost_posting_again", method="chat.postMessage")
        return await super().chat_postMessage(**kwargs)

    async def _find_posted(self, kwargs: dict[str, Any],
                           started: float) -> AsyncSlackResponse | None:
        """The bot's message matching `kwargs` posted since `started`, as a postMessage answer."""
        channel, thread_ts = str(kwargs.get("channel")), kwargs.get("thread_ts")
        oldest = f"{started - 60:.6f}"
        if thread_ts:
            resp = await self.conversations_replies(channel=channel, ts=str(thread_ts),
                                                    oldest=oldest, limit=200)
        else:
            resp = await self.conversations_history(channel=channel, oldest=oldest, limit=200)
        values = _button_values(kwargs.get("blocks"))
        for message in reversed(resp.get("messages") or []):
            if not message.get("bot_id") or message.get("text") != kwargs.get("text"):
                continue
            shown = json.dumps(message.get("blocks") or [])
            if all(json.dumps(v)[1:-1] in shown for v in values):
                data = {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
                return AsyncSlackResponse(client=self, http_verb="POST",
                                          api_url=f"{self.base_url}chat.postMessage",
                                          req_args={}, data=data, headers={}, status_code=200)
        return None


def _button_values(blocks: Any) -> list[str]:
    """Button values in blocks (they name the turn, so they tell two placeholders apart)."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    found: list[str] = []
    for block in blocks or []:
        for element in block.get("elements") or [] if isinstance(block, dict) else []:
            if isinstance(element, dict) and isinstance(element.get("value"), str):
                found.append(element["value"])
    return found
