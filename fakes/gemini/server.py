"""FakeGemini: an aiohttp server speaking the Gemini Interactions API wire format."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from fakes.gemini.create import BODY, finish_background, handle_create, json_response
from fakes.gemini.errors import ApiError, bad_request, not_found, precondition
from fakes.gemini.media import MAX_INLINE_BYTES
from fakes.gemini.plan import Plan, build_plan, input_text
from fakes.gemini.records import Record, RecordedRequest
from fakes.gemini.script import Reply, ScriptError
from fakes.gemini.stream import replay
from fakes.gemini.structured import example, json_schema
from fakes.gemini.validate import CreateRequest

_VER = "{ver:v[0-9]+[a-z0-9]*}"


class FakeGemini:
    """A strict local stand-in for the Interactions API (`/{ver}/interactions...`)."""

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        sniff_media: bool = True,
        known_models: set[str] | None = None,
        responder: Callable[[CreateRequest], Reply] | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.sniff_media = sniff_media
        self.known_models = known_models
        self.responder = responder
        """Picks the reply when no scripted one matches (default: echo the input)."""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.script_errors: list[str] = []
        self.skipped_searches: list[str] = []
        self.failures: list[ApiError] = []
        self.get_failures: list[ApiError] = []
        self.get_delays: list[float] = []
        self.environments: set[str] = set()
        self.tokens: dict[str, str] = {}
        self._queue: list[tuple[Reply, str | None]] = []
        self._records: dict[str, Record] = {}
        self._live: dict[str, Record] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port on 127.0.0.1."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_post(f"/{_VER}/interactions", self._create)
        app.router.add_get(f"/{_VER}/interactions/{{id}}", self._get)
        app.router.add_delete(f"/{_VER}/interactions/{{id}}", self._delete)
        app.router.add_post(f"/{_VER}/interactions/{{id}}/cancel", self._cancel)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self, *, check: bool = True) -> None:
        """Stop serving; raise ScriptError if any scripted reply was impossible."""
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if check and self.script_errors:
            raise ScriptError("; ".join(self.script_errors))

    async def __aenter__(self) -> FakeGemini:
        """Start on enter."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop on exit."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (no version segment)."""
        if self._port is None:
            raise RuntimeError("FakeGemini is not started")
        return f"http://{self.host}:{self._port}"

    # -- scripting -----------------------------------------------------------------

    def queue(self, reply: Reply, model: str | None = None) -> None:
        """Append a scripted reply; `model` restricts it to requests for that model/agent."""
        self._queue.append((reply, model))

    def reset(self) -> None:
        """Forget scripts, failures, recorded requests and stored interactions."""
        self._queue.clear()
        self.failures.clear()
        self.requests.clear()
        self._records.clear()
        self.tokens.clear()
        self.script_errors.clear()
        self.skipped_searches.clear()
        self.disconnects = 0

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._queue)

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        retry_after: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Fail the next `times` creates with an HTTP error (before validation)."""
        text = message or f"Scripted failure with HTTP {status} (fake)."
        self.failures.extend(ApiError(status, text, code, retry_after) for _ in range(times))

    def fail_next_gets(self, times: int = 1, status: int = 503,
                       retry_after: float | None = None) -> None:
        """Fail the next `times` GET /interactions/{id} with an HTTP error."""
        text = f"Scripted failure with HTTP {status} (fake)."
        self.get_failures.extend(ApiError(status, text, None, retry_after) for _ in range(times))

    def delay_next_gets(self, seconds: float, times: int = 1) -> None:
        """Answer the next `times` GET /interactions/{id} only after `seconds` (a slow API)."""
        self.get_delays.extend([seconds] * times)

    def polls(self, interaction_id: str) -> list[RecordedRequest]:
        """Every GET of one interaction (each is a poll of a background run)."""
        return [r for r in self.requests
                if r.method == "GET" and r.path.endswith(f"/interactions/{interaction_id}")]

    def forget(self, interaction_id: str) -> None:
        """Drop a stored interaction (as if it expired): from now on it answers 404."""
        self._records.pop(interaction_id)

    def new_environment(self) -> str:
        """A fresh remote sandbox id."""
        env = f"env_{next(self._ids)}"
        self.environments.add(env)
        return env

    # -- inspection ----------------------------------------------------------------

    @property
    def creates(self) -> list[Any]:
        """Parsed bodies of every POST /{ver}/interactions, accepted or not."""
        return [
            r.body for r in self.requests
            if r.method == "POST" and r.path.endswith("/interactions")
        ]

    @property
    def interactions(self) -> dict[str, dict[str, Any]]:
        """Stored interactions by id, as GET would return them (without counting a poll)."""
        return {rid: rec.to_json() for rid, rec in self._records.items()}

    def chain(self, interaction_id: str) -> list[str]:
        """Ids from the root of the chain to `interaction_id` (stops at deleted links)."""
        if interaction_id not in self._records:
            raise KeyError(interaction_id)
        ids: list[str] = []
        current: str | None = interaction_id
        while current is not None and current in self._records:
            ids.append(current)
            current = self._records[current].previous_interaction_id
        return ids[::-1]

    def record(self, interaction_id: str) -> Record:
        """The live Record object (stored or in flight)."""
        return self._live.get(interaction_id) or self._records[interaction_id]

    # -- used by the create handler -------------------------------------------------

    def new_interaction_id(self) -> str:
        """`v1_<counter>_<random hex>`."""
        return f"v1_{next(self._ids)}_{secrets.token_hex(3)}"

    def new_id(self, prefix: str) -> str:
        """`<prefix>_<counter>` for call/search/signature ids."""
        return f"{prefix}_{next(self._ids)}"

    def issue_token(self, rec: Record, wanted: str | None) -> str:
        """A continuation token bound to the interaction."""
        token = wanted or f"tok_{next(self._ids)}"
        self.tokens[token] = rec.id
        return token

    def previous_for(self, interaction_id: str | None) -> Record | None:
        """Resolve previous_interaction_id: 404 unless stored, 400 while still running."""
        if interaction_id is None:
            return None
        rec = self._records.get(interaction_id)
        if rec is None:
            raise not_found(f"Interaction {interaction_id!r} was not found")
        if rec.running:
            raise precondition(f"Interaction {interaction_id!r} is still {rec.status}")
        return rec

    def next_reply(self, req: CreateRequest) -> tuple[Reply, Plan]:
        """Pop the first matching scripted reply (or echo) and plan it; 500 on script errors."""
        index = next(
            (i for i, (_, model) in enumerate(self._queue) if model in (None, req.target)), None
        )
        if index is None and self.responder is not None:
            reply = self.responder(req)
        elif index is None:
            schema = json_schema(req.body)
            said = input_text(req.steps)
            reply = Reply(text=f"echo: {said}" if schema is None
                          else json.dumps(example(schema, said)))
        else:
            reply = self._queue[index][0]
        plan = Plan(steps=[])
        if reply.http_status is None and reply.http_error is None:
            try:
                plan = build_plan(reply, req, self.new_id)
            except ScriptError as exc:
                self.script_errors.append(str(exc))
                raise ApiError(500, f"fake script error: {exc}", "internal") from exc
        if index is not None:
            del self._queue[index]
        return reply, plan

    def register(self, rec: Record) -> None:
        """Track an in-flight interaction (and store it unless store=false)."""
        self._live[rec.id] = rec
        if rec.store:
            self._records[rec.id] = rec

    def unregister(self, rec: Record) -> None:
        """The request that created `rec` has finished."""
        self._live.pop(rec.id, None)

    # -- HTTP ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Record, parse JSON, authenticate, and render errors in the API's shape."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            raw = await request.read()
            body, parse_error = _parse_json(raw)
            version = request.path.strip("/").split("/", 1)[0] or None
            self.requests.append(RecordedRequest(
                method=request.method, path=request.path, query=dict(request.query),
                headers=CIMultiDict(request.headers), body=body, at=time.monotonic(),
                version=version,
            ))
            self._authenticate(request)
            if len(raw) > MAX_INLINE_BYTES:
                raise bad_request(f"Request payload size exceeds the limit: {MAX_INLINE_BYTES}")
            if parse_error:
                raise bad_request(f"Invalid JSON payload received. {parse_error}")
            request[BODY] = body
            return await handler(request)
        except ApiError as err:
            return err.response()
        except web.HTTPException as exc:
            if exc.status in (404, 405):
                code = "not_found" if exc.status == 404 else "method_not_allowed"
                text = f"{request.method} {request.path} is not a known route"
                return ApiError(exc.status, text, code).response()
            raise
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _authenticate(self, request: web.Request) -> None:
        """401 without x-goog-api-key, 403 with a wrong one."""
        key = request.headers.get("x-goog-api-key")
        if not key:
            raise ApiError(401, "Request is missing a valid API key.", "unauthenticated")
        if key != self.api_key:
            raise ApiError(403, "API key not valid. Please pass a valid API key.",
                           "permission_denied")

    async def _create(self, request: web.Request) -> web.StreamResponse:
        """POST /{ver}/interactions."""
        return await handle_create(self, request)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        """GET /{ver}/interactions/{id}; each GET of a background run counts as a poll."""
        if self.get_delays:
            await asyncio.sleep(self.get_delays.pop(0))
        if self.get_failures:
            raise self.get_failures.pop(0)
        rec = self._records.get(request.match_info["id"])
        if rec is None:
            raise not_found(f"Interaction {request.match_info['id']!r} was not found")
        stream = request.query.get("stream", "false").lower() == "true"
        if rec.plan is not None and rec.running:
            timed = rec.reply.background_s if rec.reply is not None else None
            if timed is not None:
                if time.monotonic() - rec.started >= timed:
                    finish_background(self, rec)
            elif rec.polls_left > 0 and not stream:
                rec.polls_left -= 1
            else:
                finish_background(self, rec)
        if stream:
            return await replay(request, rec, request.query.get("last_event_id"))
        include = request.query.get("include_input", "false").lower() == "true"
        return json_response(rec.to_json(include_input=include))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        """POST /{ver}/interactions/{id}/cancel: only running background interactions."""
        rid = request.match_info["id"]
        rec = self._live.get(rid) or self._records.get(rid)
        if rec is None:
            raise not_found(f"Interaction {rid!r} was not found")
        if not rec.background:
            raise precondition(f"Interaction {rid!r} is not a background interaction; only "
                               "background interactions can be cancelled")
        if not rec.running:
            raise precondition(f"Interaction {rid!r} is not running (status {rec.status})")
        rec.finish("cancelled")
        rec.cancelled.set()
        return json_response(rec.to_json())

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        """DELETE /{ver}/interactions/{id}."""
        rid = request.match_info["id"]
        rec = self._records.pop(rid, None)
        if rec is None:
            raise not_found(f"Interaction {rid!r} was not found")
        if rec.running:
            rec.finish("cancelled")
            rec.cancelled.set()
        return json_response({})


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    """Parse a request body: empty -> None; invalid -> an error message."""
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, str(exc)
