"""One turn of a thread's conversation: Slack message in, Gemini interaction, answer out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.gemini import (
    Activity,
    ChainNotFound,
    Finished,
    GeminiError,
    Started,
    TextDelta,
    TurnResult,
    stream_interaction,
)
from bot.logs import get_logger
from bot.messages import IncomingMessage, strip_bot_mention
from bot.services import Services
from bot.streaming import EditStreamer
from storage import ThreadState

log = get_logger("conversation")

MAX_STREAM_ATTEMPTS = 2
SEED_LIMIT = 1000


async def answer_turn(services: Services, payload: dict[str, Any]) -> None:
    """Answer one queued turn in its thread and move the thread's chain forward."""
    msg = IncomingMessage.from_payload(payload["message"])
    settings = services.settings
    store = services.store
    state = await store.get_thread(msg.key) or ThreadState()
    streamer = EditStreamer(
        client=services.slack, interim_client=services.slack_interim,
        channel=msg.channel_id, thread_ts=msg.reply_thread_ts, budget=services.budget,
        interval=settings.edit_interval_s, message_ts=payload.get("placeholder_ts"),
    )
    await streamer.start()
    started = time.monotonic()
    previous = state.interaction_id
    try:
        seed = await _thread_context(services, msg) if payload.get("seed_thread") else None
        user_input = _turn_input(services, msg, seed)
        try:
            result = await _run_model(services, streamer, user_input, previous)
        except ChainNotFound:
            # Gemini forgot the chain (expired): rebuild it once from the Slack thread.
            log.warning("chain_not_found", channel=msg.channel_id)
            seed = await _thread_context(services, msg)
            result = await _run_model(services, streamer, _turn_input(services, msg, seed), None)
    except GeminiError as err:
        log.warning("turn_failed", channel=msg.channel_id, status=err.status, code=err.code)
        await streamer.fail(f":warning: {err.user_message}", partial=streamer.text)
        return
    except asyncio.CancelledError:
        await streamer.close()
        raise
    await streamer.finish(result.text)
    new_state = state.model_copy(update={
        "interaction_id": result.interaction_id,
        "previous_interaction_id": previous,
        "model": settings.gemini_model,
        "turns": state.turns + 1,
        "last_activity": time.time(),
        "last_answer_ts": streamer.ts[0] if streamer.ts else None,
    })
    await store.save_thread(msg.key, new_state, settings.thread_ttl_s)
    log.info("turn_answered", channel=msg.channel_id, turns=new_state.turns,
             chars=len(result.text), seconds=round(time.monotonic() - started, 2),
             usage=result.usage.get("total_tokens"))


async def _run_model(services: Services, streamer: EditStreamer, user_input: list[dict[str, Any]],
                     previous: str | None) -> TurnResult:
    """Stream one interaction into `streamer`, retrying a failure that produced no text."""
    settings = services.settings
    body: dict[str, Any] = {
        "model": settings.gemini_model,
        "input": user_input,
        "system_instruction": settings.system_instruction,
    }
    tools = _tools(services)
    if tools:
        body["tools"] = tools
    if previous:
        body["previous_interaction_id"] = previous
    for attempt in range(1, MAX_STREAM_ATTEMPTS + 1):
        text: list[str] = []
        try:
            async with asyncio.timeout(settings.gemini_turn_timeout_s):
                async for ev in stream_interaction(services.gemini, **body):
                    if isinstance(ev, TextDelta):
                        text.append(ev.text)
                        streamer.push("".join(text))
                    elif isinstance(ev, Activity):
                        streamer.status(_describe_activity(ev))
                    elif isinstance(ev, Started):
                        log.debug("interaction_started", interaction=ev.interaction_id)
                    elif isinstance(ev, Finished):
                        return _checked(ev.result)
        except TimeoutError:
            raise GeminiError("Gemini took too long to answer. Please try again.") from None
        except ChainNotFound:
            raise
        except GeminiError as err:
            if not err.retryable or err.produced_output or attempt == MAX_STREAM_ATTEMPTS:
                raise
            log.info("retrying_stream", attempt=attempt, code=err.code)
            await asyncio.sleep(0.5 * attempt)
    raise GeminiError("Gemini did not answer.")  # pragma: no cover - loop always returns/raises


def _checked(result: TurnResult) -> TurnResult:
    if result.status == "completed":
        return result
    if result.status == "incomplete" and result.text:
        result.text += "\n\n_(The answer hit Gemini's length limit.)_"
        return result
    if result.status == "requires_action":
        raise GeminiError("Gemini asked to use a tool this bot doesn't offer.")
    raise GeminiError(f"Gemini ended the answer with status “{result.status}”.", code=result.status)


def _tools(services: Services) -> list[dict[str, Any]]:
    if not services.settings.google_search:
        return []
    return [{"type": "google_search"}, {"type": "url_context"}]


def _describe_activity(ev: Activity) -> str:
    if ev.kind == "search":
        return f"Searching the web for {ev.detail}…"
    if ev.kind == "url_context":
        return f"Reading {ev.detail}…"
    return "Working…"


def _turn_input(services: Services, msg: IncomingMessage, seed: str | None) -> list[dict[str, Any]]:
    """The user content for this turn: who said what (plus the thread so far, once)."""
    said = strip_bot_mention(msg.text, services.bot_user_id) or "(no text)"
    text = f"<@{msg.user_id}>: {said}"
    if seed:
        text = (f"Earlier messages in this Slack thread, for context:\n{seed}\n\n"
                f"New message:\n{text}")
    return [{"type": "text", "text": text}]


async def _thread_context(services: Services, msg: IncomingMessage) -> str | None:
    """The thread's earlier messages as 'author: text' lines (one conversations.replies read)."""
    resp = await services.slack.conversations_replies(
        channel=msg.channel_id, ts=msg.reply_thread_ts, limit=SEED_LIMIT
    )
    lines = []
    for m in resp.get("messages", []):
        if m.get("ts") == msg.ts or float(m.get("ts", 0)) > float(msg.ts):
            continue
        if m.get("subtype") not in (None, "file_share", "thread_broadcast", "bot_message"):
            continue
        author = "you (the bot)" if m.get("user") == services.bot_user_id else (
            f"<@{m['user']}>" if m.get("user") else str(m.get("username") or "a bot"))
        text = strip_bot_mention(str(m.get("text") or ""), services.bot_user_id)
        if text:
            lines.append(f"{author}: {text}")
    return "\n".join(lines) or None
