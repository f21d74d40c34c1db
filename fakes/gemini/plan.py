"""Turning a scripted Reply into output steps, each with its stream start and deltas."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.gemini.script import Reply, ScriptError
from fakes.gemini.structured import json_schema, parse_scripted
from fakes.gemini.validate import CreateRequest


@dataclass
class PlannedStep:
    """One output step: the `step.start` payload plus the deltas that complete it."""

    start: dict[str, Any]
    deltas: list[dict[str, Any]] = field(default_factory=list)

    def assemble(self, upto: int | None = None) -> dict[str, Any]:
        """The step as stored, built from the first `upto` deltas (all by default)."""
        return assemble(self.start, self.deltas if upto is None else self.deltas[:upto])


@dataclass
class Plan:
    """All output steps for one reply, plus notes about what was adapted."""

    steps: list[PlannedStep]
    skipped_search: bool = False

    def output_steps(self) -> list[dict[str, Any]]:
        """All steps fully assembled."""
        return [ps.assemble() for ps in self.steps]


def build_plan(reply: Reply, req: CreateRequest, new_id: Callable[[str], str]) -> Plan:
    """Build the output steps; raise ScriptError for replies the model could not give."""
    plan = Plan(steps=[])
    schema = json_schema(req.body)
    if schema is not None and reply.text is not None and not reply.malformed_json:
        problems = parse_scripted(reply.text, schema)
        if problems:
            raise ScriptError("scripted text is not valid for the request's JSON schema: "
                              + "; ".join(problems[:3]))
    if reply.thought:
        signature = base64.b64encode(f"sig:{new_id('sig')}".encode()).decode()
        plan.steps.append(PlannedStep({"type": "thought"}, [
            {"type": "thought_summary", "content": {"type": "text", "text": reply.thought}},
            {"type": "thought_signature", "signature": signature},
        ]))
    if reply.search is not None:
        if req.tools.google_search:
            plan.steps.extend(_search_steps(reply, new_id("gs")))
        else:
            plan.skipped_search = True
    plan.steps.extend(_answer_steps(reply))
    for call in reply.function_calls:
        if call.name not in req.tools.functions:
            declared = ", ".join(sorted(req.tools.functions)) or "none"
            raise ScriptError(
                f"scripted FunctionCall {call.name!r} but the request declared no function tool "
                f"of that name (declared: {declared})"
            )
        plan.steps.append(PlannedStep({
            "type": "function_call", "id": call.id or new_id("call"), "name": call.name,
            "arguments": copy.deepcopy(call.arguments),
        }))
    return plan


def _search_steps(reply: Reply, call_id: str) -> list[PlannedStep]:
    """The google_search_call / google_search_result pair."""
    search = reply.search
    assert search is not None
    return [
        PlannedStep(
            {"type": "google_search_call", "id": call_id, "search_type": search.search_type},
            [{"type": "google_search_call", "arguments": {"queries": list(search.queries)}}],
        ),
        PlannedStep(
            {"type": "google_search_result", "call_id": call_id},
            [{"type": "google_search_result",
              "result": [{"search_suggestions": search.suggestions_html}]}],
        ),
    ]


def _answer_steps(reply: Reply) -> list[PlannedStep]:
    """The model_output step: text chunks, citations, then an optional image."""
    chunks = reply.text_chunks()
    text = "".join(chunks)
    if not text and reply.image is None:
        if reply.citations:
            raise ScriptError("Reply.citations need Reply.text")
        return []
    deltas: list[dict[str, Any]] = [{"type": "text", "text": chunk} for chunk in chunks]
    if reply.citations:
        if not text:
            raise ScriptError("Reply.citations need Reply.text")
        deltas.append({"type": "text_annotation_delta",
                       "annotations": [_citation(c, text) for c in reply.citations]})
    if reply.image is not None:
        deltas.append({"type": "image", "mime_type": reply.image_mime,
                       "data": base64.b64encode(reply.image).decode()})
    return [PlannedStep({"type": "model_output"}, deltas)]


def _citation(citation: Any, text: str) -> dict[str, Any]:
    """A url_citation annotation with checked indices.

    Index units are undocumented (characters or UTF-8 bytes), so indices may go up to the
    text's UTF-8 length.
    """
    end = len(text) if citation.end_index is None else citation.end_index
    if not 0 <= citation.start_index <= end <= len(text.encode("utf-8")):
        raise ScriptError(f"Citation indices {citation.start_index}..{end} outside the text")
    out = {"type": "url_citation", "url": citation.url, "start_index": citation.start_index,
           "end_index": end}
    if citation.title is not None:
        out["title"] = citation.title
    return out


def assemble(start: dict[str, Any], deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold stream deltas into a stored step, the way a client accumulator would."""
    step = copy.deepcopy(start)
    kind = step["type"]
    for delta in deltas:
        dtype = delta["type"]
        if kind == "model_output":
            content = step.setdefault("content", [])
            if dtype == "text":
                if content and content[-1]["type"] == "text":
                    content[-1]["text"] += delta["text"]
                else:
                    content.append({"type": "text", "text": delta["text"]})
            elif dtype == "text_annotation_delta":
                texts = [b for b in content if b["type"] == "text"]
                texts[-1].setdefault("annotations", []).extend(delta["annotations"])
            else:
                content.append(copy.deepcopy(delta))
        elif kind == "thought":
            if dtype == "thought_summary":
                step.setdefault("summary", []).append(copy.deepcopy(delta["content"]))
            elif dtype == "thought_signature":
                step["signature"] = delta["signature"]
        else:
            step.update({k: copy.deepcopy(v) for k, v in delta.items() if k != "type"})
    if kind == "model_output":
        step.setdefault("content", [])
    return step


def step_text(step: dict[str, Any]) -> str:
    """The words a step contributes to the conversation (for token counting)."""
    kind = step.get("type")
    parts: list[str] = []
    if kind in ("user_input", "model_output"):
        parts = [b["text"] for b in step.get("content") or [] if b.get("type") == "text"]
    elif kind == "function_result":
        result = step.get("result")
        parts = [result if isinstance(result, str) else json.dumps(result)]
    elif kind == "function_call":
        parts = [step.get("name", ""), json.dumps(step.get("arguments", {}))]
    elif kind == "thought":
        parts = [b["text"] for b in step.get("summary") or [] if b.get("type") == "text"]
    return " ".join(parts)


def words(steps: list[dict[str, Any]], kinds: tuple[str, ...] | None = None) -> int:
    """Rough token count: whitespace-separated words over the given steps."""
    return sum(
        len(step_text(s).split()) for s in steps if kinds is None or s.get("type") in kinds
    )


def input_text(steps: list[dict[str, Any]]) -> str:
    """The text of the request's input, for the default echo reply."""
    for step in reversed(steps):
        if step.get("type") == "user_input":
            return " ".join(
                b["text"] for b in step.get("content") or [] if b.get("type") == "text"
            )
    return " ".join(step_text(s) for s in steps if s.get("type") == "function_result")
