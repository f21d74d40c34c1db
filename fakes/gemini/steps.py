"""Validation of steps sent as input, and the function-call bookkeeping between turns."""

from __future__ import annotations

from typing import Any

from fakes.gemini.errors import bad_request
from fakes.gemini.media import check_block, decode_base64

TOOL_PAIRS = (
    "google_search", "url_context", "code_execution", "google_maps", "mcp_server_tool",
    "file_search", "retrieval", "processing", "tool_search",
)
STEP_TYPES = frozenset(
    {"user_input", "model_output", "thought", "function_call", "function_result"}
    | {f"{name}_call" for name in TOOL_PAIRS}
    | {f"{name}_result" for name in TOOL_PAIRS}
)


def check_step(step: dict[str, Any], where: str, *, sniff: bool = True) -> None:
    """Validate one input step by its type."""
    kind = step["type"]
    if kind in ("user_input", "model_output"):
        _allow(step, {"type", "content"} | ({"error"} if kind == "model_output" else set()), where)
        content = step.get("content")
        if not isinstance(content, list) or (kind == "user_input" and not content):
            raise bad_request(f"{where}.content must be a non-empty list")
        for i, block in enumerate(content):
            check_block(block, f"{where}.content[{i}]", user=kind == "user_input", sniff=sniff)
    elif kind == "thought":
        _allow(step, {"type", "signature", "summary"}, where)
        if "signature" in step:
            if not isinstance(step["signature"], str):
                raise bad_request(f"{where}.signature must be a base64 string")
            decode_base64(step["signature"], where)
        for i, block in enumerate(step.get("summary") or []):
            check_block(block, f"{where}.summary[{i}]", user=False, sniff=sniff)
    elif kind == "function_call":
        _allow(step, {"type", "id", "name", "arguments", "signature"}, where)
        _need_str(step, "id", where)
        _need_str(step, "name", where)
        if not isinstance(step.get("arguments"), dict):
            raise bad_request(f"{where}.arguments is required and must be an object")
    elif kind == "function_result":
        _allow(step, {"type", "call_id", "result", "name", "is_error", "signature"}, where)
        _need_str(step, "call_id", where)
        _check_result(step, where, sniff=sniff)
        if "name" in step and not isinstance(step["name"], str):
            raise bad_request(f"{where}.name must be a string")
        if "is_error" in step and not isinstance(step["is_error"], bool):
            raise bad_request(f"{where}.is_error must be a boolean")
    elif kind.endswith("_call"):
        _need_str(step, "id", where)
    elif kind.endswith("_result"):
        _need_str(step, "call_id", where)


def match_function_results(
    steps: list[dict[str, Any]], previous_calls: dict[str, str], previous_pending: bool
) -> None:
    """Check function_result steps answer open calls; a pending turn must answer all."""
    open_calls = dict(previous_calls) if previous_pending else {}
    answered: set[str] = set()
    for i, step in enumerate(steps):
        kind = step["type"]
        if kind == "function_call":
            open_calls[step["id"]] = step["name"]
        elif kind == "function_result":
            call_id = step["call_id"]
            if call_id not in open_calls:
                raise bad_request(
                    f"input[{i}].call_id {call_id!r} does not match any open function_call"
                )
            if call_id in answered:
                raise bad_request(f"input[{i}]: duplicate function_result for {call_id!r}")
            name = step.get("name")
            if name is not None and name != open_calls[call_id]:
                raise bad_request(
                    f"input[{i}].name {name!r} does not match the call's name "
                    f"{open_calls[call_id]!r}"
                )
            answered.add(call_id)
    if previous_pending:
        missing = sorted(set(previous_calls) - answered)
        if missing:
            raise bad_request(
                "The previous interaction requires action: every function_call needs a "
                f"function_result (missing call_id {', '.join(missing)})"
            )


def _check_result(step: dict[str, Any], where: str, *, sniff: bool) -> None:
    """A function result is a string, an object, or a list of content blocks."""
    if "result" not in step or step["result"] is None:
        raise bad_request(f"{where}.result is required")
    result = step["result"]
    if isinstance(result, list):
        for i, block in enumerate(result):
            check_block(block, f"{where}.result[{i}]", user=False, sniff=sniff)
    elif not isinstance(result, str | dict):
        raise bad_request(f"{where}.result must be a string, an object or a list of content")


def _need_str(step: dict[str, Any], key: str, where: str) -> None:
    """A required non-empty string field."""
    value = step.get(key)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{where}.{key} is required")


def _allow(step: dict[str, Any], allowed: set[str], where: str) -> None:
    """Reject unknown fields on a step."""
    extra = sorted(set(step) - allowed)
    if extra:
        raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} at '{where}'")
