"""Scripted replies for the fake Gemini Interactions API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ScriptError(AssertionError):
    """A scripted reply that the real model could never produce for the request."""


@dataclass
class Citation:
    """A url_citation annotation on the answer text (indices default to the whole text)."""

    url: str
    title: str | None = None
    start_index: int = 0
    end_index: int | None = None


@dataclass
class SearchCall:
    """A google_search_call/google_search_result step pair."""

    queries: list[str] = field(default_factory=list)
    search_type: str = "web_search"
    suggestions_html: str = "<div class='search-suggestions'>fake</div>"


@dataclass
class FunctionCall:
    """A client-side function call the model makes (the request must declare the tool)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Reply:
    """One scripted model reply: consumed by exactly one POST /interactions."""

    text: str | None = None
    chunks: list[str] | None = None
    chunk_size: int = 12
    delay_s: float = 0.0
    first_delay_s: float = 0.0
    step_delay_s: float = 0.0
    """Pause before each output step after the first (e.g. a search that takes a while)."""
    citations: list[Citation] = field(default_factory=list)
    search: SearchCall | None = None
    function_calls: list[FunctionCall] = field(default_factory=list)
    image: bytes | None = None
    image_mime: str = "image/png"
    thought: str | None = None
    status: str | None = None
    continuation_token: str | None = None
    error_event: dict[str, Any] | None = None
    error_after_chunks: int | None = None
    drop_after_chunks: int | None = None
    http_status: int | None = None
    http_error: dict[str, Any] | None = None
    retry_after: float | None = None
    background_polls: int = 1
    background_s: float | None = None
    """When set, a background run finishes this many seconds after it was created (however
    often it is polled) instead of after `background_polls` polls."""
    hang_s: float = 0.0
    malformed_json: bool = False
    """With a JSON `response_format`: answer `text` even though it is not valid for the schema
    (a model that broke the format); otherwise such a script is a ScriptError."""

    def text_chunks(self) -> list[str]:
        """Split the answer text into stream chunks."""
        if self.chunks is not None:
            if self.text is not None and "".join(self.chunks) != self.text:
                raise ScriptError("Reply.chunks must concatenate to Reply.text")
            return list(self.chunks)
        if not self.text:
            return []
        size = max(1, self.chunk_size)
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]

    def final_status(self) -> str:
        """The status the interaction ends with when nothing goes wrong."""
        if self.status:
            return self.status
        return "requires_action" if self.function_calls else "completed"
