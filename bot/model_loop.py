"""Runs the model for one turn: streams interactions into the answer, with bounded retries."""

from __future__ import annotations

import asyncio
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
from bot.services import Services
from bot.streaming import EditStreamer

log = get_logger("model_loop")

MAX_STREAM_ATTEMPTS = 2


async def run_model(services: Services, streamer: EditStreamer, user_input: list[dict[str, Any]],
                     previous: str | None) -> TurnResult:
    """Stream one interaction into `streamer`, retrying a failure that produced no text."""
    settings = services.settings
    body: dict[str, Any] = {
        "model": settings.gemini_model,
        "input": user_input,
        "system_instruction": settings.system_instruction,
    }
    tools = turn_tools(services)
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
                        streamer.status(describe_activity(ev))
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


def turn_tools(services: Services) -> list[dict[str, Any]]:
    """The tools offered to the model on every turn."""
    if not services.settings.google_search:
        return []
    return [{"type": "google_search"}, {"type": "url_context"}]


def describe_activity(ev: Activity) -> str:
    """A status line for what the model is doing."""
    if ev.kind == "search":
        return f"Searching the web for {ev.detail}…"
    if ev.kind == "url_context":
        return f"Reading {ev.detail}…"
    return "Working…"
