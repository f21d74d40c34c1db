"""Gemini access: one google-genai client per process, and one streamed turn as typed events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from google import genai
from google.genai import _interactions as gx
from google.genai import types

from bot.config import Settings
from bot.logs import get_logger

log = get_logger("gemini")

_RETRYABLE_CODES = frozenset({"resource_exhausted", "unavailable", "internal",
                              "deadline_exceeded"})


@dataclass(frozen=True, slots=True)
class Citation:
    """A `url_citation` annotation on the answer text."""

    url: str
    title: str | None
    start_index: int | None
    end_index: int | None


@dataclass(slots=True)
class FunctionCall:
    """A client-side tool call the model asked for (status `requires_action`)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class TurnResult:
    """The outcome of one interaction: what a Slack answer and the stored chain need."""

    interaction_id: str
    status: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    function_calls: list[FunctionCall] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    """(base64 data, mime type) of generated images."""
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Started:
    """The interaction exists on Gemini's side (its id is known)."""

    interaction_id: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class Activity:
    """The model is doing something other than writing (searching, reading a URL…)."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended with a final status."""

    result: TurnResult


StreamEvent = Started | TextDelta | Activity | Finished


class GeminiError(Exception):
    """A turn failed; `user_message` is safe to show in Slack."""

    def __init__(self, user_message: str, *, retryable: bool = False, status: int | None = None,
                 code: str | None = None, produced_output: bool = False) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.retryable = retryable
        self.status = status
        self.code = code
        self.produced_output = produced_output


class ChainNotFound(GeminiError):
    """`previous_interaction_id` is unknown to Gemini (expired or deleted)."""


MAX_CONNECTIONS = 1000
"""Connections one process may hold to Gemini. A streamed answer holds one for its whole length
and every background-run create/poll needs one; with the SDK's default pool (100) a worker
answering 100 threads made the 101st answer and every run poll wait (bench/backlog.py)."""


def make_client(settings: Settings) -> genai.Client:
    """Build the process-wide client: pinned API version, bounded retries and timeouts."""
    http = types.HttpOptions(
        api_version=settings.gemini_api_version,
        timeout=int(settings.gemini_timeout_s * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.gemini_retry_attempts, initial_delay=0.5, max_delay=8.0
        ),
        # httpx2 is the SDK's own HTTP client library; only the pool size is ours.
        async_client_args={"limits": httpx2.Limits(max_connections=MAX_CONNECTIONS,
                                                   max_keepalive_connections=100)},
    )
    if settings.gemini_base_url:
        http.base_url = settings.gemini_base_url
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http)


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field from an SDK model or a plain dict (unknown events come back as dicts)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def describe_api_error(exc: Exception) -> GeminiError:
    """Map an SDK exception to a GeminiError with a message a Slack user can act on."""
    if isinstance(exc, gx.APITimeoutError):
        return GeminiError("Gemini took too long to answer. Please try again.", retryable=True)
    if isinstance(exc, gx.APIConnectionError):
        return GeminiError("I couldn't reach Gemini just now. Please try again in a moment.",
                           retryable=True)
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    code = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code"))
    if isinstance(exc, gx.NotFoundError):
        return ChainNotFound("Gemini no longer has this conversation's history.", status=status,
                             code=code)
    if isinstance(exc, gx.RateLimitError):
        msg = "Gemini is rate-limiting requests right now. Please try again in a minute."
        return GeminiError(msg, retryable=True, status=status, code=code)
    if isinstance(exc, gx.AuthenticationError | gx.PermissionDeniedError):
        msg = "Gemini rejected the bot's API key. An admin needs to check GEMINI_API_KEY."
        return GeminiError(msg, status=status, code=code)
    if isinstance(exc, gx.BadRequestError | gx.UnprocessableEntityError):
        return GeminiError("Gemini could not process this request.", status=status, code=code)
    if isinstance(exc, gx.InternalServerError):
        return GeminiError("Gemini had an internal error. Please try again.", retryable=True,
                           status=status, code=code)
    return GeminiError("Something went wrong talking to Gemini.", status=status, code=code)


async def stream_interaction(
    client: genai.Client, *, timeout_s: float | None = None, **body: Any
) -> AsyncIterator[StreamEvent]:
    """Create one interaction with `stream=True` and yield its events as typed values.

    Raises GeminiError for HTTP errors, mid-stream `error` events and broken streams.
    """
    produced = False
    try:
        stream = await client.aio.interactions.create(stream=True, timeout=timeout_s, **body)
    except gx.APIError as exc:
        raise describe_api_error(exc) from exc
    acc = _Accumulator()
    try:
        async for ev in stream:
            out = acc.feed(ev)
            for item in out:
                if isinstance(item, TextDelta):
                    produced = True
                yield item
            if acc.finished:
                break
    except gx.APIError as exc:
        err = describe_api_error(exc)
        err.produced_output = produced
        raise err from exc
    except GeminiError as err:
        err.produced_output = produced
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:
                log.debug("stream_close_failed")
    if not acc.finished:
        raise GeminiError("Gemini's answer was cut off. Please try again.", retryable=True,
                          produced_output=produced)
    yield Finished(acc.result())


class _Accumulator:
    """Builds a TurnResult from SSE events (the SDK has no stream accumulator)."""

    def __init__(self) -> None:
        self.interaction_id = ""
        self.status = ""
        self.text: list[str] = []
        self.citations: list[Citation] = []
        self.calls: dict[int, FunctionCall] = {}
        self.call_args: dict[int, str] = {}
        self.images: list[tuple[str, str]] = []
        self.usage: dict[str, Any] = {}
        self.finished = False

    def feed(self, ev: Any) -> list[StreamEvent]:
        """Absorb one SSE event; return what the caller should see from it."""
        kind = field_of(ev, "event_type")
        if kind == "interaction.created":
            self.interaction_id = str(field_of(field_of(ev, "interaction"), "id", ""))
            return [Started(self.interaction_id)]
        if kind == "interaction.status_update":
            self.status = str(field_of(ev, "status") or self.status)
            return []
        if kind == "step.start":
            return self._step_start(int(field_of(ev, "index", 0) or 0), field_of(ev, "step"))
        if kind == "step.delta":
            return self._delta(int(field_of(ev, "index", 0) or 0), field_of(ev, "delta"))
        if kind == "interaction.completed":
            inter = field_of(ev, "interaction")
            self.interaction_id = str(field_of(inter, "id") or self.interaction_id)
            self.status = str(field_of(inter, "status") or "completed")
            usage = field_of(inter, "usage")
            if usage is not None:
                dump = getattr(usage, "model_dump", None)
                self.usage = dump(exclude_none=True) if dump else dict(usage)
            # Automatic continuation: an intermediate hop is not the end.
            self.finished = self.status != "requires_continuation"
            return []
        if kind == "error":
            err = field_of(ev, "error")
            code = str(field_of(err, "code", "") or "")
            log.warning("gemini_stream_error", code=code)
            retryable = code in _RETRYABLE_CODES
            raise GeminiError("Gemini stopped with an error while answering. Please try again.",
                              retryable=retryable, code=code)
        return []

    def _step_start(self, index: int, step: Any) -> list[StreamEvent]:
        stype = field_of(step, "type")
        if stype == "function_call":
            args = field_of(step, "arguments") or {}
            self.calls[index] = FunctionCall(
                id=str(field_of(step, "id", "")), name=str(field_of(step, "name", "")),
                arguments=dict(args) if isinstance(args, dict) else {},
            )
            return []
        if stype == "google_search_call":
            return _search_activity(field_of(step, "arguments"))
        if stype == "url_context_call":
            urls = field_of(field_of(step, "arguments"), "urls") or []
            return [Activity("url_context", ", ".join(map(str, urls)))] if urls else []
        return []

    def _delta(self, index: int, delta: Any) -> list[StreamEvent]:
        dtype = field_of(delta, "type")
        if dtype == "text":
            text = str(field_of(delta, "text", "") or "")
            if text:
                self.text.append(text)
                return [TextDelta(text)]
            return []
        if dtype == "text_annotation_delta":
            for ann in field_of(delta, "annotations") or []:
                if field_of(ann, "type") in (None, "url_citation") and field_of(ann, "url"):
                    self.citations.append(Citation(
                        url=str(field_of(ann, "url")), title=field_of(ann, "title"),
                        start_index=field_of(ann, "start_index"),
                        end_index=field_of(ann, "end_index"),
                    ))
            return []
        if dtype == "arguments_delta":
            self.call_args[index] = self.call_args.get(index, "") + str(
                field_of(delta, "arguments", "") or "")
            return []
        if dtype == "google_search_call":
            return _search_activity(field_of(delta, "arguments"))
        if dtype == "image":
            data = field_of(delta, "data")
            if data:
                self.images.append((str(data), str(field_of(delta, "mime_type") or "image/png")))
            return []
        return []

    def result(self) -> TurnResult:
        """The finished turn."""
        for index, raw in self.call_args.items():
            call = self.calls.get(index)
            if call is not None and raw:
                try:
                    parsed = json.loads(raw)
                    if isinstance(parsed, dict):
                        call.arguments = parsed
                except json.JSONDecodeError:
                    log.warning("function_call_arguments_unparsable", name=call.name)
        return TurnResult(
            interaction_id=self.interaction_id, status=self.status, text="".join(self.text),
            citations=self.citations, function_calls=list(self.calls.values()),
            images=self.images, usage=self.usage,
        )


def _search_activity(arguments: Any) -> list[StreamEvent]:
    queries = field_of(arguments, "queries") or []
    if not queries:
        return []
    return [Activity("search", "; ".join(str(q) for q in queries))]
