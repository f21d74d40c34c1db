"""Server-sent events: the writer, pauses that notice cancel/disconnect, and replay."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from fakes.gemini.errors import bad_request
from fakes.gemini.records import Record

POLL_S = 0.01


class ClientGone(Exception):
    """The client closed the connection."""


def client_gone(request: web.BaseRequest) -> bool:
    """Whether the client's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def pause(request: web.BaseRequest, rec: Record | None, seconds: float) -> str | None:
    """Sleep up to `seconds`; return "cancelled" or "gone" if that happens first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if rec is not None and rec.cancelled.is_set():
            return "cancelled"
        if client_gone(request):
            return "gone"
        left = deadline - loop.time()
        if left <= 0:
            return None
        await asyncio.sleep(min(POLL_S, left))


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame with event/id/data lines."""
    return (
        f"event: {event['event_type']}\nid: {event['event_id']}\n"
        f"data: {json.dumps(event)}\n\n"
    ).encode()


class SSEWriter:
    """Numbers events `<id>:<n>`, records them on the interaction and flushes each one."""

    def __init__(self, request: web.BaseRequest, rec: Record) -> None:
        self.request = request
        self.rec = rec
        self.response: web.StreamResponse | None = None

    async def open(self) -> None:
        """Send the 200 text/event-stream headers."""
        self.response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await self.response.prepare(self.request)

    async def send(self, event_type: str, **payload: Any) -> None:
        """Emit one event; raise ClientGone if the client has left."""
        event = {"event_type": event_type, "event_id": f"{self.rec.id}:{len(self.rec.events)}"}
        event.update(payload)
        self.rec.events.append(event)
        await self.write(event)
        self.rec.event_times.append(time.monotonic())

    async def write(self, event: dict[str, Any]) -> None:
        """Write an already-numbered event."""
        assert self.response is not None
        if client_gone(self.request):
            raise ClientGone
        try:
            await self.response.write(frame(event))
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone from exc

    async def close(self) -> None:
        """End the response normally."""
        assert self.response is not None
        try:
            await self.response.write_eof()
        except (ConnectionError, RuntimeError):
            pass


def synth_events(rec: Record) -> list[dict[str, Any]]:
    """Events for an interaction that was never streamed (background or unary)."""
    events: list[dict[str, Any]] = []

    def add(event_type: str, **payload: Any) -> None:
        event = {"event_type": event_type, "event_id": f"{rec.id}:{len(events)}"}
        event.update(payload)
        events.append(event)

    head = rec.head()
    head["status"] = "in_progress"
    add("interaction.created", interaction=head)
    for index, step in enumerate(rec.output_steps):
        start, deltas = split_step(step)
        add("step.start", index=index, step=start)
        for delta in deltas:
            add("step.delta", index=index, delta=delta)
        add("step.stop", index=index)
    if rec.status == "failed" and rec.errors:
        add("error", error=rec.errors[0])
    else:
        add("interaction.completed", interaction=rec.summary())
    return events


def split_step(step: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A stored step as a step.start payload plus deltas."""
    kind = step["type"]
    if kind == "model_output":
        deltas: list[dict[str, Any]] = []
        for block in step.get("content", []):
            if block["type"] == "text":
                deltas.append({"type": "text", "text": block["text"]})
                if block.get("annotations"):
                    deltas.append(
                        {"type": "text_annotation_delta", "annotations": block["annotations"]}
                    )
            else:
                deltas.append(dict(block))
        return {"type": "model_output"}, deltas
    if kind == "thought":
        deltas = [{"type": "thought_summary", "content": b} for b in step.get("summary", [])]
        if "signature" in step:
            deltas.append({"type": "thought_signature", "signature": step["signature"]})
        return {"type": "thought"}, deltas
    return dict(step), []


async def replay(
    request: web.BaseRequest, rec: Record, last_event_id: str | None
) -> web.StreamResponse:
    """GET ?stream=true: replay recorded events after last_event_id, following a live run."""
    writer = SSEWriter(request, rec)
    start = 0
    if last_event_id is not None:
        ids = [e["event_id"] for e in rec.events]
        if last_event_id not in ids:
            raise bad_request(f"Unknown last_event_id {last_event_id!r}")
        start = ids.index(last_event_id) + 1
    await writer.open()
    try:
        sent = start
        while True:
            while sent < len(rec.events):
                await writer.write(rec.events[sent])
                sent += 1
            if not rec.running or rec.plan is not None:
                break
            await asyncio.sleep(POLL_S)
    except ClientGone:
        return writer.response or web.StreamResponse()
    await writer.close()
    return writer.response or web.StreamResponse()
