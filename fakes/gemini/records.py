"""Recorded HTTP requests and stored interactions."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fakes.gemini.plan import Plan, words
from fakes.gemini.script import Reply

TERMINAL = frozenset(
    {"completed", "failed", "cancelled", "incomplete", "requires_action",
     "requires_continuation", "budget_exceeded"}
)
ECHOED_FIELDS = (
    "system_instruction", "tools", "generation_config", "response_format", "agent_config",
    "webhook_config", "labels", "service_tier", "safety_settings", "environment",
)


def rfc3339(ts: float | None = None) -> str:
    """UTC timestamp in RFC 3339 with a Z suffix."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class RecordedRequest:
    """One HTTP request as received (`at` is time.monotonic(); headers case-insensitive)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: Any
    at: float
    version: str | None = None


@dataclass
class Record:
    """A server-side interaction."""

    id: str
    model: str | None
    agent: str | None
    status: str
    previous_interaction_id: str | None
    input_steps: list[dict[str, Any]]
    raw_input: Any
    echo: dict[str, Any]
    store: bool
    background: bool
    context_before: int
    created: str = field(default_factory=rfc3339)
    updated: str = ""
    output_steps: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    continuation_token: str | None = None
    plan: Plan | None = None
    reply: Reply | None = None
    final_status: str = "completed"
    polls_left: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    event_times: list[float] = field(default_factory=list)
    """time.monotonic() at which each streamed event was written (for benchmarks)."""
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    environment_id: str | None = None
    """The remote sandbox an agent run works in (returned, reusable by later runs)."""
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        """Start with updated == created."""
        self.updated = self.updated or self.created

    @property
    def running(self) -> bool:
        """Whether the interaction has not reached a terminal status."""
        return self.status not in TERMINAL

    @property
    def function_calls(self) -> dict[str, str]:
        """Function calls emitted by this interaction: id -> name."""
        return {s["id"]: s["name"] for s in self.output_steps if s["type"] == "function_call"}

    @property
    def context_words(self) -> int:
        """Conversation size after this interaction (chain + input + output)."""
        return self.context_before + words(self.input_steps) + words(self.output_steps)

    def finish(self, status: str, output_steps: list[dict[str, Any]] | None = None) -> None:
        """Move to a final status."""
        if output_steps is not None:
            self.output_steps = output_steps
        self.status = status
        self.plan = None
        self.updated = rfc3339()

    def usage(self) -> dict[str, int]:
        """Rough token counts: input = whole chain + this input, in words."""
        inp = self.context_before + words(self.input_steps)
        thought = words(self.output_steps, ("thought",))
        out = words(self.output_steps) - thought
        return {
            "total_input_tokens": inp, "total_output_tokens": out,
            "total_thought_tokens": thought, "total_tokens": inp + out + thought,
        }

    def head(self) -> dict[str, Any]:
        """The partial interaction carried by lifecycle SSE events."""
        out: dict[str, Any] = {"id": self.id, "object": "interaction", "status": self.status}
        if self.model is not None:
            out["model"] = self.model
        else:
            out["agent"] = self.agent
        out["created"], out["updated"] = self.created, self.updated
        return out

    def to_json(self, include_input: bool = False) -> dict[str, Any]:
        """The interaction as returned by GET (in_progress background runs have no steps)."""
        out = self.head()
        if self.previous_interaction_id:
            out["previous_interaction_id"] = self.previous_interaction_id
        if not (self.background and self.plan is not None):
            out["steps"] = copy.deepcopy(self.input_steps + self.output_steps)
        if not self.running:
            out["usage"] = self.usage()
        if self.errors:
            out["errors"] = copy.deepcopy(self.errors)
        if self.continuation_token and self.status == "requires_continuation":
            out["continuation_token"] = self.continuation_token
        out.update(copy.deepcopy(self.echo))
        if self.environment_id is not None:
            out["environment_id"] = self.environment_id
        if include_input:
            out["input"] = copy.deepcopy(self.raw_input)
        return out

    def summary(self) -> dict[str, Any]:
        """The partial interaction carried by interaction.completed (no steps)."""
        out = self.head()
        out["usage"] = self.usage()
        if self.continuation_token and self.status == "requires_continuation":
            out["continuation_token"] = self.continuation_token
        return out
