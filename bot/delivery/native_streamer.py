"""Streams an answer with Slack's native streaming (chat.startStream/appendStream/stopStream)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.edit_budget import UpdateBudget
from bot.delivery.edit_streamer import THINKING, EditStreamer, nap
from bot.delivery.native_support import (
    StreamSupport,
    assistant_status,
    set_thread_status,
    slack_error,
)
from bot.logs import get_logger
from bot.rendering import SlackMessage, render_answer
from bot.rendering.types import DEFAULT_LIMITS, slack_len

log = get_logger("native_stream")

STREAM_CHARS = DEFAULT_LIMITS.markdown_chars
"""Most text one streamed message carries (each call is also under Slack's 12,000)."""
EMPTY_ANSWER = "_(empty answer)_"
WRITING = "Writing…"
EXPIRED = "message_not_in_streaming_state"

Mode = Literal["pending", "native", "edit"]


class NativeStreamer:
    """One answer streamed natively into a thread; turns into an EditStreamer when it must.

    Before the first text, the thread status shows what the model does (or, where Slack
    refuses thread status, the placeholder does). The first text starts the stream; later text
    is appended, paced and coalesced. A placeholder posted for the answer's controls (Stop)
    stays above the stream as a small "Writing…" message and is deleted once the answer is
    written; one without controls is deleted when the stream starts.

    It turns into edit streaming when Slack refuses a stream (into the placeholder), and on the
    stream's own message when it expires, outgrows one message or the text is rewritten.
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        interim_client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        recipient_team_id: str,
        recipient_user_id: str,
        budget: UpdateBudget,
        support: StreamSupport,
        interval: float = 1.0,
        placeholder_ts: str | None = None,
        interim_blocks: Sequence[dict[str, Any]] = (),
        remember_refusal: bool = True,
        on_message: Callable[[str, str], Awaitable[None]] | None = None,
        find_message: Callable[[], Awaitable[tuple[str, str] | None]] | None = None,
    ) -> None:
        self.client = client
        self.interim_client = interim_client
        self.channel = channel
        self.thread_ts = thread_ts
        self.recipient_team_id = recipient_team_id
        self.recipient_user_id = recipient_user_id
        self.budget = budget
        self.support = support
        self.interval = interval
        self.interim_blocks = list(interim_blocks)
        self.remember_refusal = remember_refusal
        self.on_message = on_message  # told (ts, "stream" | "placeholder") of what it posts
        self.find_message = find_message  # finds what an interrupted attempt left behind
        self._placeholder_ts = placeholder_ts
        self._mode: Mode = "pending"
        self._edit: EditStreamer | None = None
        """Before the stream: the placeholder (if any). In edit mode: the answer itself."""
        self._control: EditStreamer | None = None
        """While streaming natively: the placeholder kept above the stream for its controls."""
        self._stream_ts: str | None = None
        self._streamed = ""
        self._latest = ""
        self._status: str | None = None
        self._status_dirty = False
        self._status_live = False
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_send = 0.0

    @property
    def text(self) -> str:
        """The answer text pushed so far."""
        return self._latest

    @property
    def ts(self) -> list[str]:
        """The answer's messages so far (the stream, or the edit-streamed messages)."""
        if self._mode == "native" and self._stream_ts:
            return [self._stream_ts]
        return list(self._edit.ts) if self._edit is not None else []

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, placeholder: str = THINKING) -> str:
        """Show that the model is thinking (status, else placeholder) and start the send loop."""
        await self._resume()
        if self._placeholder_ts:
            self._edit = self._edit_streamer(self._placeholder_ts)
            await self._edit.start(placeholder)
        elif not await self._show_status(placeholder):
            self._edit = self._edit_streamer(None)
            await self._edit.start(placeholder)
            await self._posted(self._edit.ts[0], "placeholder")
        self._task = asyncio.create_task(self._run(), name=f"native-stream-{self.thread_ts}")
        return self.ts[0] if self.ts else ""

    def push(self, markdown_so_far: str) -> None:
        """Offer the answer so far; it is appended to the stream when pacing allows."""
        self._latest = markdown_so_far
        if self._mode == "edit" and self._edit is not None:
            self._edit.push(markdown_so_far)
        else:
            self._wake.set()

    def status(self, text: str) -> None:
        """Show what the model is doing while no answer text has arrived yet."""
        self._status = text
        if self._mode == "native":
            return  # the growing answer shows progress
        if self._mode == "pending" and self.support.status_ok(self.channel):
            self._status_dirty = True  # the loop sets the thread status (placeholder if refused)
            self._wake.set()
        elif self._edit is not None:
            self._edit.status(text)

    async def finish(self, markdown: str, extra_blocks: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write the complete answer: stop the stream with it, or edit it in, nothing lost."""
        await self._stop_loop()
        extra = list(extra_blocks)
        try:
            if self._mode == "native":
                if await self._finish_stream(markdown or EMPTY_ANSWER, extra):
                    return self.ts
                self._edit_on_stream()
            return await self._edit_or_new().finish(markdown, extra)
        finally:
            await self._drop_control()
            await self._clear_status()

    async def close(self) -> None:
        """Stop sending without writing anything more (the stream is ended as it stands).

        The turn stays queued (shutdown): whoever resumes it reuses the placeholder and
        deletes the half-written stream.
        """
        await self._stop_loop()
        if self._mode == "native":
            await self._stop_stream()
        elif self._edit is not None:
            await self._edit.close()
        if self._control is not None:
            await self._control.close()
        await self._clear_status()

    # -- the send loop ---------------------------------------------------------------------------
    async def _stop_loop(self) -> None:
        self._closed = True
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            try:
                if self._status_dirty and self._mode == "pending" and not self._latest:
                    self._status_dirty = False
                    text = self._status or ""
                    if not await self._show_status(text) and self._edit is not None:
                        self._edit.status(text)
                if not self._latest or self._mode == "edit":
                    continue
                wait = self._last_send + self.interval - time.monotonic()
                if self._mode == "native" and wait > 0:
                    await nap(self._closing, wait)
                    if self._closed:
                        return
                await (self._open() if self._mode == "pending" else self._append())
            except Exception:
                log.exception("native_stream_step_failed")

    async def _open(self) -> None:
        """Start the stream with the text so far, or fall back to edit streaming."""
        text = self._latest
        if slack_len(text) > STREAM_CHARS:
            await self._fall_back("too_long")
            return
        try:
            resp = await self.client.chat_startStream(
                channel=self.channel, thread_ts=self.thread_ts, markdown_text=text,
                recipient_team_id=self.recipient_team_id,
                recipient_user_id=self.recipient_user_id,
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            if self.remember_refusal:
                self.support.no_native(self.channel, error)
            await self._fall_back(error)
            return
        self._stream_ts = str(resp["ts"])
        self._streamed = text
        self._mode = "native"
        self._status_live = False  # Slack clears the status when the app posts
        self._last_send = time.monotonic()
        placeholder, self._edit = self._edit, None
        if placeholder is not None and self.interim_blocks:
            self._control = placeholder  # keeps Stop reachable above the stream
            placeholder.status(WRITING)
        elif placeholder is not None:
            await _discard(self.client, self.channel, placeholder)
        await self._posted(self._stream_ts, "stream")

    async def _append(self) -> None:
        """Append what is new since the last call (or hand over to edit streaming)."""
        latest = self._latest
        if not latest.startswith(self._streamed):
            await self._hand_over("rewritten")
            return
        delta = latest[len(self._streamed):]
        if not delta:
            return
        if slack_len(latest) > STREAM_CHARS:
            await self._hand_over("too_long")
            return
        append_budget = self.support.append_budget
        if not await append_budget.try_take():
            await nap(self._closing, max(0.05, append_budget.delay()))
            self._wake.set()
            return
        try:
            await self.interim_client.chat_appendStream(channel=self.channel, ts=self._stream_ts,
                                                        markdown_text=delta)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "ratelimited":
                append_budget.pause(float(exc.response.headers.get("Retry-After", 1) or 1))
                self._wake.set()
                return
            await self._hand_over(error, stop=error != EXPIRED)
            return
        self._streamed = latest
        self._last_send = time.monotonic()

    # -- turning into edit streaming ---------------------------------------------------------------
    async def _fall_back(self, reason: str) -> None:
        """No stream was started: edit-stream into the placeholder (posting one if needed)."""
        log.info("native_stream_refused", channel=self.channel, reason=reason)
        if self._edit is None:
            self._edit = self._edit_streamer(None)
            await self._edit.start()
            await self._posted(self._edit.ts[0], "placeholder")
        self._mode = "edit"
        self._edit.push(self._latest)
        if self._status:
            self._edit.status(self._status)
        await self._clear_status()  # the placeholder shows what happens from now on

    async def _hand_over(self, reason: str, *, stop: bool = True) -> None:
        """The stream cannot go on: end it and keep editing the same message."""
        log.info("native_stream_handover", channel=self.channel, reason=reason)
        if stop:
            await self._stop_stream()
        edit = self._edit_on_stream()
        await edit.start()
        edit.push(self._latest)
        await self._drop_control()  # the edited answer carries its own controls now

    def _edit_on_stream(self) -> EditStreamer:
        self._edit = self._edit_streamer(self._stream_ts)
        self._mode = "edit"
        return self._edit

    def _edit_or_new(self) -> EditStreamer:
        if self._edit is None:
            self._edit = self._edit_streamer(None)
        self._mode = "edit"
        return self._edit

    def _edit_streamer(self, message_ts: str | None) -> EditStreamer:
        if message_ts is None:
            self._status_live = False  # it will post, which clears the status
        return EditStreamer(
            client=self.client, interim_client=self.interim_client, channel=self.channel,
            thread_ts=self.thread_ts, budget=self.budget, interval=self.interval,
            message_ts=message_ts, interim_blocks=self.interim_blocks,
        )

    async def _drop_control(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            await _discard(self.client, self.channel, control)

    # -- Slack calls -------------------------------------------------------------------------------
    async def _finish_stream(self, markdown: str, extra: list[dict[str, Any]]) -> bool:
        """End the stream with the final text when it only appends plain Markdown to it."""
        rendered = render_answer(markdown, extra_blocks=extra)
        if markdown.startswith(self._streamed) and _plain(rendered, markdown, len(extra)):
            rest = markdown[len(self._streamed):]
            return await self._stop_stream(markdown_text=rest or None, blocks=extra or None)
        await self._stop_stream()
        return False

    async def _stop_stream(self, **kwargs: Any) -> bool:
        try:
            await self.client.chat_stopStream(channel=self.channel, ts=self._stream_ts, **kwargs)
        except SlackApiError as exc:
            log.info("native_stream_stop_failed", channel=self.channel, error=slack_error(exc))
            return False
        return True

    async def _posted(self, ts: str, kind: str) -> None:
        if self.on_message is not None:
            try:
                await self.on_message(ts, kind)
            except Exception:
                log.warning("on_message_failed", exc_info=True)

    async def _resume(self) -> None:
        """After a crash: reuse the placeholder it posted, delete the stream it left half-done."""
        try:
            found = await self.find_message() if self.find_message is not None else None
        except Exception:
            log.warning("find_message_failed", exc_info=True)
            return
        if found is None or found[0] == self._placeholder_ts:
            return
        ts, kind = found
        if kind == "placeholder" and not self._placeholder_ts:
            self._placeholder_ts = ts
            return
        try:
            await self.client.chat_delete(channel=self.channel, ts=ts)
        except SlackApiError as exc:
            log.info("leftover_delete_failed", error=slack_error(exc))

    async def _clear_status(self) -> None:
        if self._status_live:  # posting clears it; an edited placeholder does not
            await self._show_status("")

    async def _show_status(self, text: str) -> bool:
        status = assistant_status(text)
        shown = await set_thread_status(self.interim_client, self.support, self.channel,
                                        self.thread_ts, status)
        if shown:
            self._status_live = bool(status)
        return shown


async def _discard(client: AsyncWebClient, channel: str, streamer: EditStreamer) -> None:
    """Stop a placeholder's edits and delete its messages."""
    await streamer.close()
    for ts in streamer.ts:
        try:
            await client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            log.warning("placeholder_delete_failed", error=slack_error(exc))


def _plain(rendered: list[SlackMessage], markdown: str, n_extra: int) -> bool:
    """Whether rendering leaves `markdown` as it is: one message of Markdown blocks (+ extras)."""
    if len(rendered) != 1:
        return False
    blocks = rendered[0].blocks[: len(rendered[0].blocks) - n_extra]
    if not blocks or any(b.get("type") != "markdown" for b in blocks):
        return False
    return "\n\n".join(str(b.get("text", "")) for b in blocks) == markdown.strip()
