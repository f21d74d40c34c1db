"""The bot's own function tools: declarations offered to the model, and running its calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.gemini import FunctionCall
from bot.logs import get_logger

if TYPE_CHECKING:
    from bot.services import Services

log = get_logger("tools")

ToolResult = str | dict[str, Any] | list[dict[str, Any]]
Handler = Callable[[dict[str, Any], "ToolContext"], Awaitable[ToolResult]]


class ToolError(Exception):
    """A tool could not do its job; the message is shown to the model and the user."""


@dataclass(slots=True)
class ToolContext:
    """Where a turn's tool calls act (thread) and what they leave behind (state, notes)."""

    services: Services
    channel: str
    thread_ts: str
    state: dict[str, Any] = field(default_factory=dict)
    """The thread's stored `ThreadState.extra` at the start of the turn (read-only)."""
    updates: dict[str, Any] = field(default_factory=dict)
    """Keys to merge into `ThreadState.extra` when the turn completes."""
    notes: list[str] = field(default_factory=list)
    """Short notices appended to the answer (skipped files, failed tools)."""
    user_id: str = ""
    """Who wrote the message being answered (e.g. the asker of a run the model starts)."""
    team_id: str = ""

    def recall(self, key: str) -> Any:
        """The latest value of a thread-state key, including this turn's updates."""
        return self.updates[key] if key in self.updates else self.state.get(key)

    def answer_with_notes(self, markdown: str) -> str:
        """The answer followed by this turn's notices, in italics."""
        if not self.notes:
            return markdown
        notes = "\n".join(f"_{note}_" for note in self.notes)
        return f"{markdown}\n\n{notes}" if markdown.strip() else notes


@dataclass(frozen=True, slots=True)
class Tool:
    """One function the model may call: its declaration and the coroutine that runs it."""

    declaration: dict[str, Any]
    handler: Handler
    progress: str = "Working…"
    """Shown in the thread while the tool runs."""
    title: str = "A tool"
    """How a failure note names the tool ("Image generation failed: …")."""

    @property
    def name(self) -> str:
        """The function name the model calls."""
        return str(self.declaration["name"])


class Registry:
    """The tools offered on a turn, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self.tools = {tool.name: tool for tool in tools}

    def declarations(self) -> list[dict[str, Any]]:
        """`tools` entries for the create request."""
        return [dict(tool.declaration) for tool in self.tools.values()]

    def progress(self, calls: list[FunctionCall]) -> str:
        """What to show while these calls run."""
        known = [self.tools[c.name].progress for c in calls if c.name in self.tools]
        return known[0] if len(set(known)) == 1 else "Working…"

    async def run_calls(self, calls: list[FunctionCall], ctx: ToolContext) -> list[dict[str, Any]]:
        """Run every call in order; one `function_result` step per call, failures as is_error."""
        return [await self.run_call(call, ctx) for call in calls]

    async def run_call(self, call: FunctionCall, ctx: ToolContext) -> dict[str, Any]:
        """Run one call; a handler's failure becomes an is_error result (and a note)."""
        tool = self.tools.get(call.name)
        if tool is None:
            log.warning("unknown_function_called", name=call.name)
            return function_result(call, f"There is no function named {call.name!r}.",
                                   is_error=True)
        try:
            result = await tool.handler(dict(call.arguments), ctx)
        except ToolError as err:
            log.info("tool_failed", name=call.name)
            log.debug("tool_failed_reason", name=call.name, reason=str(err))
            ctx.notes.append(_sentence(f"{tool.title} failed: {err}"))
            return function_result(call, str(err), is_error=True)
        except Exception as exc:
            log.exception("tool_crashed", name=call.name)
            ctx.notes.append(f"{tool.title} failed because of an internal error.")
            return function_result(call, f"Internal error ({type(exc).__name__}).", is_error=True)
        log.info("tool_ran", name=call.name)
        return function_result(call, result)


def function_result(call: FunctionCall, result: ToolResult, *,
                    is_error: bool = False) -> dict[str, Any]:
    """The `function_result` step answering `call`."""
    step: dict[str, Any] = {"type": "function_result", "call_id": call.id, "name": call.name,
                            "result": result}
    if is_error:
        step["is_error"] = True
    return step


def _sentence(text: str) -> str:
    """`text` ending in a full stop (unless it already ends a sentence)."""
    return text if text.rstrip("”\"')").endswith((".", "!", "?", "…")) else f"{text}."
