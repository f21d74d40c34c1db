"""Runs the model for one turn: streamed rounds, the bot's function calls between them, retries."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from typing import Any, TypeVar

from bot.delivery.answer_writer import AnswerStream
from bot.delivery.edit_streamer import EditStreamer
from bot.gemini import (
    Activity,
    ChainNotFound,
    Citation,
    Finished,
    GeminiError,
    Started,
    TextDelta,
    TurnResult,
    stream_interaction,
)
from bot.logs import get_logger
from bot.services import Services
from bot.tools.agents import agent_tool
from bot.tools.images import image_tool
from bot.tools.registry import Registry, ToolContext, function_result

log = get_logger("model_loop")

MAX_STREAM_ATTEMPTS = 2
ROUNDS_USED = ("Not run: this answer already used its {n} rounds of function calls. "
               "Answer now with what you have.")

FILES_REJECTED = "Gemini couldn't process the attached files, so I answered without them."

T = TypeVar("T")


async def run_model(services: Services, streamer: AnswerStream, user_input: list[dict[str, Any]],
                    previous: str | None, tools: ToolContext | None = None, *,
                    without_files: list[dict[str, Any]] | None = None) -> TurnResult:
    """Stream the turn into `streamer`, running the bot's function calls between rounds.

    Rounds are chained by `previous_interaction_id`; the result's `interaction_id` is the chain
    head after the turn (never an interaction still waiting for function results). Without a
    `tools` context the model is offered no functions. When Gemini rejects the input as a bad
    request and `without_files` is given, the turn is tried once more with that input instead.
    """
    settings = services.settings
    registry = turn_registry(services) if tools is not None else Registry()
    answer = _Answer(streamer)
    rounds: list[TurnResult] = []
    next_input, forced, calls_run = user_input, False, 0
    try:
        async with asyncio.timeout(settings.gemini_turn_timeout_s):
            while True:
                body = create_body(services, next_input, previous, registry,
                                   allow_calls=not forced)
                try:
                    result = await _stream_round(services, answer, body)
                except GeminiError as err:
                    if without_files is None or rounds or err.status != 400:
                        raise
                    log.warning("input_rejected_retrying_without_files", code=err.code)
                    if tools is not None:
                        tools.notes.append(FILES_REJECTED)
                    next_input, without_files = without_files, None
                    continue
                rounds.append(result)
                calls = result.function_calls
                if result.status != "requires_action" or not calls:
                    return _checked(_merged(rounds, answer.text))
                if tools is None or forced:
                    raise GeminiError("Gemini asked to use a tool this bot doesn't offer."
                                      if not forced else
                                      "Gemini kept asking to use tools instead of answering.")
                previous = result.interaction_id
                if calls_run >= settings.max_tool_rounds:
                    log.warning("tool_rounds_exhausted", rounds=calls_run)
                    forced = True
                    note = ROUNDS_USED.format(n=settings.max_tool_rounds)
                    next_input = [function_result(c, note, is_error=True) for c in calls]
                    continue
                calls_run += 1
                log.info("function_calls", round=calls_run, names=[c.name for c in calls])
                next_input = await answer.while_running(registry.progress(calls),
                                                        registry.run_calls(calls, tools))
    except TimeoutError:
        raise GeminiError("Gemini took too long to answer. Please try again.") from None


def create_body(services: Services, input_: list[dict[str, Any]], previous: str | None,
                registry: Registry, *, allow_calls: bool = True) -> dict[str, Any]:
    """The create request for one round, chained to `previous` (stateful mode).

    A stateless mode would send `store=False` and the whole history (exactly as received) as
    `input` instead of `previous_interaction_id`; the rest of the body stays the same.
    """
    settings = services.settings
    body: dict[str, Any] = {
        "model": settings.gemini_model,
        "input": input_,
        "system_instruction": settings.system_instruction,
    }
    tools = turn_tools(services, registry)
    if tools:
        body["tools"] = tools
    if not allow_calls and registry.tools:
        body["generation_config"] = {"tool_choice": "none"}
    if previous:
        body["previous_interaction_id"] = previous
    return body


async def _stream_round(services: Services, answer: _Answer, body: dict[str, Any]) -> TurnResult:
    """Stream one interaction into the answer, retrying a failure that produced no text."""
    for attempt in range(1, MAX_STREAM_ATTEMPTS + 1):
        answer.begin_round()
        try:
            async for ev in stream_interaction(services.gemini, **body):
                if isinstance(ev, TextDelta):
                    answer.add(ev.text)
                elif isinstance(ev, Activity):
                    answer.streamer.status(describe_activity(ev))
                elif isinstance(ev, Started):
                    log.debug("interaction_started", interaction=ev.interaction_id)
                elif isinstance(ev, Finished):
                    return answer.end_round(ev.result)
        except ChainNotFound:
            raise
        except GeminiError as err:
            if not err.retryable or err.produced_output or attempt == MAX_STREAM_ATTEMPTS:
                raise
            log.info("retrying_stream", attempt=attempt, code=err.code)
            await asyncio.sleep(0.5 * attempt)
    raise GeminiError("Gemini did not answer.")  # pragma: no cover - loop always returns/raises


class _Answer:
    """The answer text across a turn's rounds, as the streamer shows it."""

    def __init__(self, streamer: AnswerStream) -> None:
        self.streamer = streamer
        self.done = ""
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """Finished rounds' text, then this round's so far."""
        current = "".join(self.parts)
        return f"{self.done}\n\n{current}" if self.done and current else self.done or current

    def begin_round(self) -> None:
        """Start (or restart, after a retry) a round's text."""
        self.parts = []

    def add(self, text: str) -> None:
        """More text from the model."""
        self.parts.append(text)
        self.streamer.push(self.text)

    def end_round(self, result: TurnResult) -> TurnResult:
        """Close the round; its citations are shifted to index into the whole answer."""
        offset = len(self.done) + 2 if self.done and self.parts else 0
        if offset:
            result.citations = [_shifted(c, offset) for c in result.citations]
        self.done, self.parts = self.text, []
        return result

    async def while_running(self, what: str, work: Awaitable[T]) -> T:
        """Await `work` while the thread shows `what`.

        Edit streaming shows it below any text already written (the next edit replaces it);
        a native stream only appends, so there it is left to the streamer's status.
        """
        self.streamer.status(what)
        below = bool(self.done) and isinstance(self.streamer, EditStreamer)
        if below:
            self.streamer.push(f"{self.done}\n\n_{what}_")
        try:
            return await work
        finally:
            if below:
                self.streamer.push(self.done)


def _shifted(c: Citation, offset: int) -> Citation:
    return dataclasses.replace(
        c, start_index=None if c.start_index is None else c.start_index + offset,
        end_index=None if c.end_index is None else c.end_index + offset)


def _merged(rounds: list[TurnResult], text: str) -> TurnResult:
    """One result for the turn: the last round's status and id, everything's text and sources."""
    usage: dict[str, Any] = {}
    for r in rounds:
        for key, value in r.usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                usage[key] = usage.get(key, 0) + value
    return dataclasses.replace(
        rounds[-1], text=text, usage=usage,
        citations=[c for r in rounds for c in r.citations],
        images=[i for r in rounds for i in r.images],
        function_calls=[c for r in rounds for c in r.function_calls],
    )


def _checked(result: TurnResult) -> TurnResult:
    if result.status == "completed":
        return result
    if result.status == "incomplete" and result.text:
        result.text += "\n\n_(The answer hit Gemini's length limit.)_"
        return result
    if result.status == "requires_action":
        raise GeminiError("Gemini asked to use a tool this bot doesn't offer.")
    raise GeminiError(f"Gemini ended the answer with status “{result.status}”.", code=result.status)


def turn_registry(services: Services) -> Registry:
    """The bot's own functions offered on a turn."""
    tools = [image_tool(services.settings), agent_tool(services.settings)]
    return Registry([tool for tool in tools if tool is not None])


def turn_tools(services: Services, registry: Registry | None = None) -> list[dict[str, Any]]:
    """The tools offered to the model on every round: built-ins plus the bot's functions."""
    tools: list[dict[str, Any]] = []
    if services.settings.google_search:
        tools += [{"type": "google_search"}, {"type": "url_context"}]
    if registry is not None:
        tools += registry.declarations()
    return tools


def describe_activity(ev: Activity) -> str:
    """A status line for what the model is doing."""
    if ev.kind == "search":
        return f"Searching the web for {ev.detail}…"
    if ev.kind == "url_context":
        return f"Reading {ev.detail}…"
    return "Working…"
