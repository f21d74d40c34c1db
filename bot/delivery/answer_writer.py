"""Picks how an answer streams (native or edits), shows it is coming, writes it with sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.delivery.edit_streamer import THINKING, EditStreamer, text_message
from bot.delivery.native_streamer import NativeStreamer
from bot.delivery.native_support import assistant_status, set_thread_status
from bot.gemini import TurnResult
from bot.logs import get_logger
from bot.rendering.citations import apply_citations
from bot.services import Services
from bot.threads.messages import IncomingMessage

log = get_logger("answer_stream")

OPEN_ANSWER = "open_answer"
"""ThreadState.extra key: the message a turn's answer started in, so a crash can't orphan it."""


class AnswerStream(Protocol):
    """What a turn needs from the thing that shows its answer (EditStreamer, NativeStreamer)."""

    @property
    def text(self) -> str:
        """The answer text pushed so far."""
        ...

    @property
    def ts(self) -> list[str]:
        """The answer's messages so far."""
        ...

    async def start(self, placeholder: str = THINKING) -> str:
        """Show that an answer is coming."""
        ...

    def push(self, markdown_so_far: str) -> None:
        """Offer the answer so far."""
        ...

    def status(self, text: str) -> None:
        """Show what the model is doing while no answer text has arrived yet."""
        ...

    async def finish(self, markdown: str, extra_blocks: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write the complete answer."""
        ...

    async def close(self) -> None:
        """Stop without writing anything more."""
        ...


def wants_native(services: Services, channel: str) -> bool:
    """Whether this turn should try native streaming (SLACK_STREAMING and what we learned)."""
    mode = services.settings.slack_streaming
    if mode == "edit":
        return False
    return mode == "native" or services.streams.native_ok(channel)


async def show_pending(services: Services, msg: IncomingMessage, *,
                       blocks: Sequence[dict[str, Any]] = ()) -> str | None:
    """At accept time, show at once that an answer is coming; return the placeholder's ts.

    For a native stream without controls to show, the thread status ("is thinking…") does it
    and no message is posted. Otherwise (edit streaming, controls such as Stop in `blocks`, or
    thread status refused) the placeholder is posted.
    """
    if not blocks and wants_native(services, msg.channel_id) and await set_thread_status(
        services.slack_interim, services.streams, msg.channel_id, msg.reply_thread_ts,
        assistant_status(THINKING),
    ):
        return None
    placeholder = text_message(THINKING)
    resp = await services.slack.chat_postMessage(
        channel=msg.channel_id, thread_ts=msg.reply_thread_ts,
        text=placeholder.text, blocks=[*placeholder.blocks, *blocks],
    )
    return str(resp["ts"])


def open_answer_stream(services: Services, msg: IncomingMessage, placeholder_ts: str | None, *,
                       interim_blocks: Sequence[dict[str, Any]] = ()) -> AnswerStream:
    """The streamer for one answer: native when wanted, else edits of the placeholder.

    A native answer notes the message it posts first in the thread state, so a turn resumed
    after a crash writes there instead of leaving a half-written message behind.
    """
    settings = services.settings
    if wants_native(services, msg.channel_id):
        return NativeStreamer(
            client=services.slack, interim_client=services.slack_interim,
            channel=msg.channel_id, thread_ts=msg.reply_thread_ts,
            recipient_team_id=msg.team_id, recipient_user_id=msg.user_id,
            budget=services.budget, support=services.streams, interval=settings.edit_interval_s,
            placeholder_ts=placeholder_ts, interim_blocks=interim_blocks,
            remember_refusal=settings.slack_streaming == "auto",
            on_message=lambda ts, kind: _remember_open_message(services, msg, ts, kind),
            find_message=lambda: _find_open_message(services, msg),
        )
    return EditStreamer(
        client=services.slack, interim_client=services.slack_interim,
        channel=msg.channel_id, thread_ts=msg.reply_thread_ts, budget=services.budget,
        interval=settings.edit_interval_s, message_ts=placeholder_ts,
        interim_blocks=interim_blocks,
    )


async def _find_open_message(services: Services,
                             msg: IncomingMessage) -> tuple[str, str] | None:
    """(ts, kind) of a message an interrupted attempt at this turn's answer posted, if any."""
    state = await services.store.get_thread(msg.key)
    entry = state.extra.get(OPEN_ANSWER) if state is not None else None
    if not isinstance(entry, dict) or entry.get("turn") != msg.ts or not entry.get("ts"):
        return None
    if state is None or entry.get("base") != state.interaction_id:
        return None  # the turn was answered since: the entry is stale
    return str(entry["ts"]), str(entry.get("kind") or "stream")


async def _remember_open_message(services: Services, msg: IncomingMessage, ts: str,
                                 kind: str) -> None:
    """Note a message the answer posted in the thread state (the turn's final save drops it)."""
    state = await services.store.get_thread(msg.key)
    if state is None:
        return
    entry = {"turn": msg.ts, "ts": ts, "kind": kind, "base": state.interaction_id}
    extra = {**state.extra, OPEN_ANSWER: entry}
    await services.store.save_thread(msg.key, state.model_copy(update={"extra": extra}),
                                     services.settings.thread_ttl_s)


def cited_answer(result: TurnResult) -> str:
    """The answer's Markdown with citation markers and its "Sources" section."""
    try:
        text, sources = apply_citations(result.text, result.citations)
    except Exception:  # a citation bug must never cost the answer itself
        log.exception("citations_failed", count=len(result.citations))
        return result.text
    return f"{text.rstrip()}\n\n{sources}" if sources else text


async def finish_answer(stream: AnswerStream, result: TurnResult,
                        extra_blocks: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Write the final answer with its citations; the Sources spill over, never drop, at limits."""
    return await stream.finish(cited_answer(result), extra_blocks)
