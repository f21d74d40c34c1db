"""POST /interactions: server-state checks, then a unary, background or SSE reply."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fakes.gemini.errors import CODE_STATUSES, ApiError, bad_request, not_found
from fakes.gemini.plan import Plan
from fakes.gemini.records import ECHOED_FIELDS, Record
from fakes.gemini.script import Reply
from fakes.gemini.steps import match_function_results
from fakes.gemini.stream import ClientGone, SSEWriter, client_gone, pause, synth_events
from fakes.gemini.validate import parse_create

if TYPE_CHECKING:
    from fakes.gemini.server import FakeGemini

BODY: web.RequestKey[Any] = web.RequestKey("body", object)
DROPPED = {"code": "unavailable", "message": "The connection was dropped mid-response (fake)."}


def json_response(payload: dict[str, Any]) -> web.Response:
    """200 application/json."""
    return web.Response(text=json.dumps(payload), content_type="application/json")


async def handle_create(fake: FakeGemini, request: web.Request) -> web.StreamResponse:
    """Validate, pick the scripted reply, and answer it the way the request asked."""
    if fake.failures:
        raise fake.failures.pop(0)
    req = parse_create(request.get(BODY), sniff=fake.sniff_media)
    if fake.known_models is not None and req.model and req.model not in fake.known_models:
        raise not_found(f"models/{req.model} is not found or not supported for interactions")
    prev = fake.previous_for(req.previous_interaction_id)
    token = req.continuation_token
    if token is not None and (
        token not in fake.tokens
        or (prev is not None and fake.tokens[token] != prev.id)
    ):
        raise bad_request(f"Invalid continuation_token {token!r}")
    pending = prev is not None and prev.status == "requires_action"
    match_function_results(req.steps, prev.function_calls if prev else {}, pending)
    environment_id = resolve_environment(fake, req.body.get("environment")) if req.agent else None
    reply, plan = fake.next_reply(req)
    if reply.http_status is not None or reply.http_error is not None:
        if reply.hang_s:
            await pause(request, None, reply.hang_s)
        raise reply_error(reply)
    echo = {k: req.body[k] for k in ECHOED_FIELDS if k in req.body}
    rec = Record(
        id=fake.new_interaction_id(), model=req.model, agent=req.agent, status="in_progress",
        previous_interaction_id=req.previous_interaction_id, input_steps=req.steps,
        raw_input=req.body.get("input"), echo=echo, store=req.store,
        background=req.background, context_before=prev.context_words if prev else 0,
        reply=reply, final_status=reply.final_status(), environment_id=environment_id,
    )
    if plan.skipped_search:
        fake.skipped_searches.append(rec.id)
    fake.register(rec)
    try:
        if reply.hang_s and await pause(request, rec, reply.hang_s) == "gone":
            fake.disconnects += 1
            abandon(fake, rec, plan)
            return web.Response(status=200)
        if req.stream:
            return await run_stream(fake, request, rec, plan)
        if req.background and not rec.cancelled.is_set():
            rec.plan, rec.polls_left = plan, reply.background_polls
            return json_response(rec.to_json())
        return unary(fake, request, rec, plan)
    finally:
        fake.unregister(rec)


def resolve_environment(fake: FakeGemini, env: Any) -> str | None:
    """The sandbox an agent request runs in: a new one for "remote", else a known id (404)."""
    if env is None:
        return None
    if isinstance(env, dict):
        if env.get("type") != "remote":
            raise bad_request("environment.type must be 'remote'")
        env = env.get("environment_id") or "remote"
    if env == "remote":
        return fake.new_environment()
    if env not in fake.environments:
        raise not_found(f"Environment {env!r} was not found")
    return str(env)


def unary(fake: FakeGemini, request: web.Request, rec: Record, plan: Plan) -> web.StreamResponse:
    """A complete Interaction as one JSON body (or a scripted failure)."""
    reply = rec.reply
    assert reply is not None
    if rec.cancelled.is_set():
        return json_response(rec.to_json())
    if reply.drop_after_chunks is not None:
        rec.errors = [dict(DROPPED)]
        rec.finish("failed")
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=200)
    if reply.error_event is not None:
        err = event_error(reply.error_event)
        rec.errors = [err]
        rec.finish("failed")
        rec.events = synth_events(rec)
        raise ApiError(CODE_STATUSES.get(err["code"], 500), err["message"], err["code"])
    complete(fake, rec, plan.output_steps())
    if client_gone(request):
        fake.disconnects += 1
    return json_response(rec.to_json())


def complete(fake: FakeGemini, rec: Record, steps: list[dict[str, Any]]) -> None:
    """Finish with the scripted status, issuing a continuation token when asked."""
    reply = rec.reply
    assert reply is not None
    if rec.final_status == "requires_continuation":
        rec.continuation_token = fake.issue_token(rec, reply.continuation_token)
    rec.finish(rec.final_status, steps)
    if not rec.events:
        rec.events = synth_events(rec)


def finish_background(fake: FakeGemini, rec: Record) -> None:
    """Flip a polled background interaction to its scripted outcome."""
    plan, reply = rec.plan, rec.reply
    assert plan is not None and reply is not None
    if reply.error_event is not None:
        rec.errors = [event_error(reply.error_event)]
        rec.finish("failed")
        rec.events = synth_events(rec)
    else:
        complete(fake, rec, plan.output_steps())


def abandon(fake: FakeGemini, rec: Record, plan: Plan) -> None:
    """The client left: background work still finishes, foreground work is cancelled."""
    if rec.background and rec.running:
        complete(fake, rec, plan.output_steps())
    elif rec.running:
        rec.finish("cancelled")


async def run_stream(
    fake: FakeGemini, request: web.Request, rec: Record, plan: Plan
) -> web.StreamResponse:
    """Emit the SSE sequence for the plan, honouring delays, cancel, errors and drops."""
    writer = SSEWriter(request, rec)
    try:
        await writer.open()
        await writer.send("interaction.created", interaction=rec.head())
        await writer.send("interaction.status_update", interaction_id=rec.id, status=rec.status)
        outcome = await emit_steps(writer, request, rec, plan)
        if outcome == "drop":
            rec.errors = [dict(DROPPED)]
            rec.finish("failed")
            if request.transport is not None:
                request.transport.close()
            return writer.response or web.StreamResponse()
        if outcome == "error":
            assert rec.reply is not None and rec.reply.error_event is not None
            err = event_error(rec.reply.error_event)
            rec.errors = [err]
            rec.finish("failed")
            await writer.send("error", error=err)
        else:
            if outcome == "cancelled":
                rec.finish("cancelled")
            else:
                complete(fake, rec, rec.output_steps)
            await writer.send("interaction.completed", interaction=rec.summary())
    except ClientGone:
        fake.disconnects += 1
        abandon(fake, rec, plan)
        return writer.response or web.StreamResponse()
    await writer.close()
    return writer.response or web.StreamResponse()


async def emit_steps(writer: SSEWriter, request: web.Request, rec: Record, plan: Plan) -> str:
    """step.start/delta/stop for every planned step; returns ok|cancelled|error|drop."""
    reply = rec.reply
    assert reply is not None
    error_at = reply.error_after_chunks if reply.error_event is not None else None
    drop_at = reply.drop_after_chunks

    def trigger(chunks: int) -> str | None:
        if drop_at is not None and chunks >= drop_at:
            return "drop"
        if error_at is not None and chunks >= error_at:
            return "error"
        return None

    if hit := trigger(0):
        return hit
    done: list[dict[str, Any]] = []
    chunks, first = 0, True
    for index, step in enumerate(plan.steps):
        delay = reply.first_delay_s if first else reply.step_delay_s
        if (why := await wait(request, rec, delay)) is not None:
            return why
        await writer.send("step.start", index=index, step=step.start)
        for n, delta in enumerate(step.deltas, 1):
            if (why := await wait(request, rec, 0.0 if first else reply.delay_s)) is not None:
                return why
            first = False
            await writer.send("step.delta", index=index, delta=delta)
            rec.output_steps = [*done, step.assemble(n)]
            if delta["type"] == "text":
                chunks += 1
                if hit := trigger(chunks):
                    return hit
        first = False
        await writer.send("step.stop", index=index)
        done.append(step.assemble())
        rec.output_steps = list(done)
    if drop_at is not None:
        return "drop"
    return "error" if reply.error_event is not None else "ok"


async def wait(request: web.Request, rec: Record, seconds: float) -> str | None:
    """Pause between events; "cancelled" if cancel arrived, ClientGone if the client left."""
    why = await pause(request, rec, seconds) if seconds > 0 else None
    if why is None and rec.cancelled.is_set():
        why = "cancelled"
    if why == "gone":
        raise ClientGone
    return why


def event_error(error_event: dict[str, Any]) -> dict[str, str]:
    """Normalise Reply.error_event to {"code", "message"}."""
    inner = error_event.get("error", error_event)
    return {"code": str(inner.get("code", "internal")),
            "message": str(inner.get("message", "The model failed (fake)."))}


def reply_error(reply: Reply) -> ApiError:
    """The ApiError a Reply with http_status/http_error asks for."""
    err = reply.http_error or {}
    inner = err.get("error", err)
    code = inner.get("code")
    status = reply.http_status or CODE_STATUSES.get(str(code), 500)
    message = inner.get("message") or f"Scripted HTTP {status} (fake)."
    return ApiError(status, str(message), str(code) if code else None, reply.retry_after)
