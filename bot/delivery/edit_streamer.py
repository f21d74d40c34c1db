"""Streams an answer into a Slack thread by posting a placeholder and editing it as text grows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.edit_budget import UpdateBudget
from bot.logs import get_logger
from bot.rendering import Limits, SlackMessage, render_answer, render_streaming

log = get_logger("streaming")

THINKING = "_Thinking…_"


def text_message(markdown: str) -> SlackMessage:
    """A one-block message for short notices (placeholder, status, errors)."""
    plain = markdown.replace("_", "")
    return SlackMessage(text=plain, blocks=[{"type": "markdown", "text": markdown}])


class EditStreamer:
    """One answer in one thread: placeholder first, coalesced edits, complete final text.

    Interim edits go out at most once per `interval` per answer and only while the workspace
    `budget` allows; a skipped edit is never queued, the next one carries the latest text.
    The final edit always happens and carries everything, spilling into follow-up messages.
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        interim_client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        budget: UpdateBudget,
        interval: float = 1.0,
        message_ts: str | Sequence[str] | None = None,
        interim_blocks: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.client = client
        self.interim_client = interim_client
        self.channel = channel
        self.thread_ts = thread_ts
        self.budget = budget
        self.interval = interval
        self.interim_blocks = list(interim_blocks)
        # Interim renders leave room for those blocks (Slack rejects a 51st block).
        self._interim_limits = Limits(blocks=Limits().blocks - len(self.interim_blocks))
        # Existing messages to write into: a placeholder, or an answer being regenerated.
        self.ts: list[str] = [message_ts] if isinstance(message_ts, str) else list(message_ts or [])
        self._sent: list[SlackMessage | None] = [None] * len(self.ts)
        self._latest = ""
        self._status: str | None = None
        self._dirty = asyncio.Event()
        self._closing = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._last_edit = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def text(self) -> str:
        """The answer text pushed so far."""
        return self._latest

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, placeholder: str = THINKING) -> str:
        """Post the placeholder (unless one was posted already) and start the edit loop."""
        if not self.ts:
            resp = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts,
                **_payload(text_message(placeholder)),
            )
            self.ts.append(str(resp["ts"]))
            self._sent.append(None)
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.ts[0]}")
        return self.ts[0]

    def push(self, markdown_so_far: str) -> None:
        """Offer the answer so far; an edit goes out when pacing allows."""
        self._latest = markdown_so_far
        self._dirty.set()

    def status(self, text: str) -> None:
        """Show what the model is doing while no answer text has arrived yet."""
        self._status = text
        if not self._latest:
            self._dirty.set()

    async def finish(self, markdown: str, extra_blocks: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write the complete answer (as many messages as it needs) and stop the edit loop."""
        await self._stop_loop()
        messages = render_answer(markdown or "_(empty answer)_", extra_blocks=list(extra_blocks))
        await self._write(messages, final=True)
        return list(self.ts[: len(messages)])

    async def close(self) -> None:
        """Stop the edit loop without writing anything more."""
        await self._stop_loop()

    # -- internals -------------------------------------------------------------------------------
    async def _stop_loop(self) -> None:
        self._closed = True
        self._closing.set()
        self._dirty.set()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            if self._closed:
                return
            wait = max(0.0, self._last_edit + self.interval - time.monotonic())
            if wait:
                await nap(self._closing, wait)
                if self._closed:
                    return
            if not await self.budget.try_take():
                await nap(self._closing, max(0.05, self.budget.delay()))
                continue  # still dirty: retry with whatever is latest then
            if self._closed:  # finish() or close() came while the shared budget answered
                return
            self._dirty.clear()
            if self._latest:
                messages = render_streaming(self._latest, limits=self._interim_limits)
                messages = _with_blocks(messages, self.interim_blocks)
            else:
                status = text_message(f"_{self._status}_" if self._status else THINKING)
                messages = _with_blocks([status], self.interim_blocks)
            try:
                await self._write(messages, final=False, token_taken=True)
            except SlackApiError as exc:
                self._on_interim_error(exc)
            except Exception:
                log.exception("interim_edit_failed")

    def _on_interim_error(self, exc: SlackApiError) -> None:
        status = getattr(exc.response, "status_code", None)
        if status == 429:
            retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            self.budget.pause(retry_after)
            self._dirty.set()
            log.info("slack_rate_limited", retry_after=retry_after)
        else:
            log.warning("interim_edit_rejected", error=exc.response.get("error"))

    async def _write(self, messages: list[SlackMessage], *, final: bool,
                     token_taken: bool = False) -> None:
        """Make the thread show `messages`: edit what exists, post the rest, delete leftovers."""
        client = self.client if final else self.interim_client
        async with self._send_lock:
            for i, msg in enumerate(messages):
                if i < len(self.ts):
                    if self._sent[i] == msg:
                        continue
                    if not token_taken:
                        await self.budget.take()
                    token_taken = False
                    await client.chat_update(channel=self.channel, ts=self.ts[i], **_payload(msg))
                else:
                    resp = await client.chat_postMessage(
                        channel=self.channel, thread_ts=self.thread_ts, **_payload(msg)
                    )
                    self.ts.append(str(resp["ts"]))
                    self._sent.append(None)
                self._sent[i] = msg
                self._last_edit = time.monotonic()
            if final:
                for ts in self.ts[len(messages):]:
                    await self.client.chat_delete(channel=self.channel, ts=ts)
                del self.ts[len(messages):]
                del self._sent[len(messages):]


async def nap(closing: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, waking at once when `closing` is set (an answer never waits on pacing)."""
    waiter = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


def _payload(msg: SlackMessage) -> dict[str, Any]:
    return {"text": msg.text, "blocks": msg.blocks}


def _with_blocks(messages: list[SlackMessage], extra: list[dict[str, Any]]) -> list[SlackMessage]:
    if not extra or not messages:
        return messages
    last = messages[-1]
    return [*messages[:-1], SlackMessage(text=last.text, blocks=[*last.blocks, *extra])]
