"""The Socket Mode side of the fake: a WebSocket that sends envelopes and records acks."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web


class SocketModeHub:
    """Serves `GET /link/` like Slack's Socket Mode endpoint: hello, envelopes, acks."""

    def __init__(self) -> None:
        self.connections: list[web.WebSocketResponse] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self._ack_events: dict[str, asyncio.Event] = {}
        self.connected = asyncio.Event()
        self.opened = 0
        """Connections accepted so far (open or closed)."""
        self._sent = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Accept a client (a ticket from apps.connections.open is required), then read acks."""
        if not request.query.get("ticket"):
            raise web.HTTPUnauthorized(text="missing ticket")
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        self.connections.append(ws)
        self.opened += 1
        await ws.send_json({"type": "hello", "num_connections": len(self.connections),
                            "debug_info": {"host": "fake-slack"}})
        self.connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                envelope_id = data.get("envelope_id")
                if isinstance(envelope_id, str):
                    self.acks[envelope_id] = data
                    self._ack_events.setdefault(envelope_id, asyncio.Event()).set()
        finally:
            self.connections.remove(ws)
            if not self.connections:
                self.connected.clear()
        return ws

    async def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                   retry_reason: str = "", ack_timeout_s: float = 3.0) -> dict[str, Any] | None:
        """Send one envelope (events_api, slash_commands, interactive); return its ack or None."""
        await asyncio.wait_for(self.connected.wait(), timeout=10)
        envelope_id = str(uuid.uuid4())
        event = self._ack_events.setdefault(envelope_id, asyncio.Event())
        # Like Slack, spread envelopes over every open connection of the app.
        ws = self.connections[self._sent % len(self.connections)]
        self._sent += 1
        await ws.send_json({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt, "retry_reason": retry_reason,
        })
        try:
            await asyncio.wait_for(event.wait(), timeout=ack_timeout_s)
        except TimeoutError:
            return None
        return self.acks[envelope_id]

    async def close(self) -> None:
        """Close every open connection."""
        for ws in list(self.connections):
            await ws.close()
