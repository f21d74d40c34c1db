"""bot.tools.registry: running the function calls, failures as is_error results and notes."""

from __future__ import annotations

from typing import Any, cast

from bot.gemini import FunctionCall
from bot.services import Services
from bot.tools.registry import Registry, Tool, ToolContext, ToolError


def declaration(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": name,
            "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}


async def echo(args: dict[str, Any], ctx: ToolContext) -> str:
    ctx.updates["echoed"] = args["x"]
    return f"echo {args['x']}"


async def refuse(args: dict[str, Any], ctx: ToolContext) -> str:
    raise ToolError("the service said no")


async def crash(args: dict[str, Any], ctx: ToolContext) -> str:
    raise RuntimeError("bug")


REGISTRY = Registry([
    Tool(declaration("echo"), echo, progress="Echoing…", title="Echo"),
    Tool(declaration("refuse"), refuse, progress="Asking…", title="Asking"),
    Tool(declaration("crash"), crash, title="Crashing"),
])


def context() -> ToolContext:
    return ToolContext(cast(Services, None), "C1", "1.000001", state={"echoed": "old"})


async def test_calls_run_in_order_and_failures_become_error_results() -> None:
    ctx = context()
    calls = [FunctionCall("c1", "echo", {"x": "hi"}), FunctionCall("c2", "refuse", {}),
             FunctionCall("c3", "crash", {}), FunctionCall("c4", "nope", {})]
    results = await REGISTRY.run_calls(calls, ctx)

    assert results == [
        {"type": "function_result", "call_id": "c1", "name": "echo", "result": "echo hi"},
        {"type": "function_result", "call_id": "c2", "name": "refuse",
         "result": "the service said no", "is_error": True},
        {"type": "function_result", "call_id": "c3", "name": "crash",
         "result": "Internal error (RuntimeError).", "is_error": True},
        {"type": "function_result", "call_id": "c4", "name": "nope",
         "result": "There is no function named 'nope'.", "is_error": True},
    ]
    assert ctx.notes == ["Asking failed: the service said no.",
                         "Crashing failed because of an internal error."]
    assert ctx.recall("echoed") == "hi" and ctx.state["echoed"] == "old"


def test_declarations_progress_and_notes() -> None:
    assert [d["name"] for d in REGISTRY.declarations()] == ["echo", "refuse", "crash"]
    assert REGISTRY.progress([FunctionCall("a", "echo", {}), FunctionCall("b", "echo", {})]) == \
        "Echoing…"
    assert REGISTRY.progress([FunctionCall("a", "echo", {}),
                              FunctionCall("b", "refuse", {})]) == "Working…"
    ctx = context()
    assert ctx.answer_with_notes("Answer.") == "Answer."
    ctx.notes += ["One.", "Two."]
    assert ctx.answer_with_notes("Answer.") == "Answer.\n\n_One._\n_Two._"
    assert ctx.answer_with_notes("") == "_One._\n_Two._"
