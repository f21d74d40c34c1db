"""What a finished run shows in its thread: the output (text, sources, images) or why not."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from bot.agents.record import format_duration, label
from bot.delivery.answer_writer import cited_answer
from bot.gemini import Citation, TurnResult, field_of


@dataclass(slots=True)
class RunOutput:
    """The output of a finished interaction, read from its steps."""

    status: str
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    images: list[tuple[bytes, str]] = field(default_factory=list)
    error: str | None = None
    environment_id: str | None = None


def read_output(interaction: Any) -> RunOutput:
    """All `model_output` text after the last `user_input` (with citations), images, errors."""
    steps = list(field_of(interaction, "steps") or [])
    last_input = max((i for i, s in enumerate(steps) if field_of(s, "type") == "user_input"),
                     default=-1)
    texts: list[str] = []
    citations: list[Citation] = []
    images: list[tuple[bytes, str]] = []
    offset = 0
    for step in steps[last_input + 1:]:
        if field_of(step, "type") != "model_output":
            continue
        for block in field_of(step, "content") or []:
            kind = field_of(block, "type")
            if kind == "text" and field_of(block, "text"):
                if texts:
                    offset += 2  # the "\n\n" joining blocks
                text = str(field_of(block, "text"))
                for ann in field_of(block, "annotations") or []:
                    if field_of(ann, "type") in (None, "url_citation") and field_of(ann, "url"):
                        start, end = field_of(ann, "start_index"), field_of(ann, "end_index")
                        citations.append(Citation(
                            url=str(field_of(ann, "url")), title=field_of(ann, "title"),
                            start_index=None if start is None else int(start) + offset,
                            end_index=None if end is None else int(end) + offset))
                texts.append(text)
                offset += len(text)
            elif kind == "image" and field_of(block, "data"):
                try:
                    data = base64.b64decode(str(field_of(block, "data")), validate=True)
                except (binascii.Error, ValueError):
                    continue
                images.append((data, str(field_of(block, "mime_type") or "image/png")))
    errors = field_of(interaction, "errors") or []
    reason = next((str(field_of(e, "message")) for e in errors if field_of(e, "message")), None)
    return RunOutput(status=str(field_of(interaction, "status") or ""), text="\n\n".join(texts),
                     citations=citations, images=images, error=reason,
                     environment_id=field_of(interaction, "environment_id"))


def result_markdown(record: dict[str, Any], output: RunOutput | None) -> str:
    """The thread message for a finished run, mentioning the asker."""
    who = f"<@{record['asker']}>"
    what = label(record)
    status = str(record.get("status"))
    if status == "completed" and output is not None:
        body = cited_answer(TurnResult(interaction_id=str(record.get("interaction_id") or ""),
                                       status="completed", text=output.text,
                                       citations=output.citations))
        if not body.strip():
            body = ("_The run finished without any text output._" if not output.images
                    else "_The run produced the images below._")
        return f"{who} Here is the result of your {what}:\n\n{body}"
    if status == "failed":
        reason = (record.get("error") or (output.error if output else None)
                  or "Gemini gave no reason")
        return f"{who} Your {what} failed: {reason}"
    if status == "start_failed":
        reason = record.get("error") or "Gemini refused the request"
        return f"{who} Your {what} could not be started: {reason}"
    if status == "cancelled":
        by = record.get("cancelled_by")
        return f"{who} Your {what} was cancelled" + (f" by <@{by}>." if by else ".")
    if status == "expired":
        limit = format_duration(float(record.get("deadline", 0)) - float(record["created_at"]))
        return (f"{who} Your {what} was still running after {limit}, the longest a run may "
                "take here (AGENT_MAX_RUNTIME_S), so it was cancelled.")
    if status == "lost":
        return (f"{who} Gemini no longer knows your {what} (it answered “not found” for the "
                "run), so its result can't be fetched. Please start it again.")
    if status == "incomplete" and output is not None and output.text:
        return f"{who} Your {what} stopped early (incomplete). What it produced:\n\n{output.text}"
    return f"{who} Your {what} ended with status “{status}”" + (
        f": {output.error}" if output and output.error else ".")
