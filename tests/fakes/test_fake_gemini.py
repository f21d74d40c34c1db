"""The fake Gemini Interactions API, driven through the real google-genai SDK."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import _interactions as gi
from google.genai import types

from fakes.gemini import Citation, FakeGemini, FunctionCall, Reply, ScriptError, SearchCall

MODEL = "gemini-3-flash-preview"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    """A started fake; stopping it raises if a scripted reply was impossible."""
    server = FakeGemini(api_key="test-key")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_client(fake: FakeGemini, key: str = "test-key", timeout_ms: int | None = None) -> Any:
    """The real SDK pointed at the fake, with retries off."""
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=fake.base_url,
            api_version="v1beta",
            timeout=timeout_ms,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


@pytest.fixture
async def client(fake: FakeGemini) -> AsyncIterator[Any]:
    """An SDK client kept alive for the whole test."""
    made = make_client(fake)
    try:
        yield made
    finally:
        await made.aio.aclose()


@pytest.fixture
async def raw(fake: FakeGemini) -> AsyncIterator[httpx2.AsyncClient]:
    """A bare HTTP client for wire-level checks the SDK would refuse to send."""
    async with httpx2.AsyncClient(
        base_url=fake.base_url, headers={"x-goog-api-key": "test-key"}
    ) as http:
        yield http


async def collect(stream: Any) -> list[Any]:
    """All events of an SDK stream."""
    return [event async for event in stream]


async def test_unary_create_default_echo(fake: FakeGemini, client: Any) -> None:
    result = await client.aio.interactions.create(model=MODEL, input="hello there")
    assert result.status == "completed"
    assert result.output_text == "echo: hello there"
    assert result.id.startswith("v1_")
    assert result.usage.total_input_tokens == 2
    req = fake.requests[-1]
    assert (req.method, req.path, req.version) == ("POST", "/v1beta/interactions", "v1beta")
    assert req.headers["x-goog-api-key"] == "test-key"
    assert fake.creates == [{"model": MODEL, "input": "hello there"}]
    stored = fake.interactions[result.id]
    assert stored["steps"][0] == {
        "type": "user_input", "content": [{"type": "text", "text": "hello there"}]
    }


async def test_queue_is_fifo_and_model_scoped(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="for pro"), model="gemini-3-pro-preview")
    fake.queue(Reply(text="first"))
    fake.queue(Reply(text="second"))
    create = client.aio.interactions.create
    assert (await create(model=MODEL, input="a")).output_text == "first"
    assert (await create(model="gemini-3-pro-preview", input="b")).output_text == "for pro"
    assert (await create(model=MODEL, input="c")).output_text == "second"
    assert fake.pending == 0


async def test_stream_events_in_order(fake: FakeGemini, client: Any) -> None:
    text = "Streaming answers arrive in small pieces."
    fake.queue(Reply(text=text, chunk_size=5, delay_s=0.01))
    events = await collect(
        await client.aio.interactions.create(model=MODEL, input="go", stream=True)
    )
    kinds = [e.event_type for e in events]
    assert kinds[:3] == ["interaction.created", "interaction.status_update", "step.start"]
    assert kinds[-2:] == ["step.stop", "interaction.completed"]
    deltas = [e.delta.text for e in events if e.event_type == "step.delta"]
    assert "".join(deltas) == text and len(deltas) == 9
    iid = events[0].interaction.id
    assert [e.event_id for e in events] == [f"{iid}:{n}" for n in range(len(events))]
    assert events[-1].interaction.status == "completed"
    assert events[-1].interaction.usage.total_output_tokens == len(text.split())
    assert fake.interactions[iid]["steps"][-1]["content"][0]["text"] == text


async def test_stream_is_flushed_per_event(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(chunks=["a", "b", "c"], first_delay_s=0.2, delay_s=0.1))
    stream = await client.aio.interactions.create(model=MODEL, input="go", stream=True)
    stamps = [time.monotonic() async for e in stream if e.event_type == "step.delta"]
    assert stamps[1] - stamps[0] >= 0.08 and stamps[2] - stamps[1] >= 0.08


async def test_chaining_and_chain(fake: FakeGemini, client: Any) -> None:
    create = client.aio.interactions.create
    first = await create(model=MODEL, input="one two three")
    second = await create(model=MODEL, input="four", previous_interaction_id=first.id)
    third = await create(model=MODEL, input="five", previous_interaction_id=second.id)
    assert fake.chain(third.id) == [first.id, second.id, third.id]
    assert fake.interactions[third.id]["previous_interaction_id"] == second.id
    # input tokens = words of the whole chain so far + this input
    # ("one two three" + "echo: one two three") + "four"
    assert second.usage.total_input_tokens == 3 + 4 + 1
    assert third.usage.total_input_tokens == 3 + 4 + 1 + 2 + 1


async def test_unknown_previous_id_is_404(client: Any) -> None:
    with pytest.raises(gi.NotFoundError) as info:
        await client.aio.interactions.create(
            model=MODEL, input="hi", previous_interaction_id="v1_missing"
        )
    assert info.value.body["error"]["code"] == "not_found"


async def test_store_false_cannot_be_chained(fake: FakeGemini, client: Any) -> None:
    result = await client.aio.interactions.create(model=MODEL, input="hi", store=False)
    assert result.id not in fake.interactions
    with pytest.raises(gi.NotFoundError):
        await client.aio.interactions.create(
            model=MODEL, input="again", previous_interaction_id=result.id
        )


async def test_base64_image_accepted_raw_bytes_rejected(fake: FakeGemini, client: Any) -> None:
    create = client.aio.interactions.create
    good = [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "mime_type": "image/png", "data": base64.b64encode(PNG).decode()},
    ]
    assert (await create(model=MODEL, input=good)).status == "completed"
    via_file = [{"type": "image", "mime_type": "image/png", "data": io.BytesIO(PNG)}]
    assert (await create(model=MODEL, input=via_file)).status == "completed"
    gif = b"GIF89a" + bytes(10)  # UTF-8-decodable, so the SDK sends it undecoded
    with pytest.raises(gi.BadRequestError, match="Base64"):
        await create(model=MODEL, input=[{"type": "image", "mime_type": "image/gif", "data": gif}])
    not_png = base64.b64encode(b"definitely not an image").decode()
    with pytest.raises(gi.BadRequestError, match="Unable to process"):
        await create(model=MODEL, input=[{"type": "image", "mime_type": "image/png",
                                          "data": not_png}])
    with pytest.raises(gi.BadRequestError, match="mime"):
        await create(model=MODEL, input=[{"type": "image", "mime_type": "image/x-icon",
                                          "uri": "gs://b/i.ico"}])


async def test_function_call_round_trip(fake: FakeGemini, client: Any) -> None:
    create = client.aio.interactions.create
    fake.queue(Reply(text="Let me check.", function_calls=[
        FunctionCall("get_weather", {"city": "Paris"}, id="call_a")]))
    fake.queue(Reply(text="It is sunny in Paris."))
    first = await create(model=MODEL, input="weather in Paris?", tools=[WEATHER_TOOL])
    assert first.status == "requires_action"
    call = next(s for s in first.steps if s.type == "function_call")
    assert (call.id, call.name, call.arguments) == ("call_a", "get_weather", {"city": "Paris"})
    with pytest.raises(gi.BadRequestError, match="does not match"):
        await create(model=MODEL, previous_interaction_id=first.id, tools=[WEATHER_TOOL],
                     input=[{"type": "function_result", "call_id": "nope", "result": "x"}])
    with pytest.raises(gi.BadRequestError, match="requires action"):
        await create(model=MODEL, previous_interaction_id=first.id, input="ignore the tool")
    final = await create(
        model=MODEL, previous_interaction_id=first.id, tools=[WEATHER_TOOL],
        input=[{"type": "function_result", "call_id": "call_a", "name": "get_weather",
                "result": "sunny"}],
    )
    assert final.status == "completed" and final.output_text == "It is sunny in Paris."
    assert fake.chain(final.id) == [first.id, final.id]


async def test_undeclared_function_call_is_a_script_error(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(function_calls=[FunctionCall("launch_rockets")]))
    with pytest.raises(gi.InternalServerError, match="fake script error"):
        await client.aio.interactions.create(model=MODEL, input="hi")
    assert fake.pending == 1 and "launch_rockets" in fake.script_errors[0]
    with pytest.raises(ScriptError):
        await fake.stop()
    fake.script_errors.clear()


async def test_function_call_stream_step(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(function_calls=[FunctionCall("get_weather", {"city": "Oslo"})]))
    events = await collect(await client.aio.interactions.create(
        model=MODEL, input="weather?", tools=[WEATHER_TOOL], stream=True))
    start = next(e for e in events if e.event_type == "step.start")
    assert start.step.type == "function_call" and start.step.arguments == {"city": "Oslo"}
    assert events[-1].interaction.status == "requires_action"


async def test_citations_and_google_search(fake: FakeGemini, client: Any) -> None:
    answer = "The Seahawks won Super Bowl LX."
    fake.queue(Reply(text=answer, thought="Need fresh facts.",
                     search=SearchCall(queries=["super bowl 2026 winner"]),
                     citations=[Citation("https://example.com/sb60", "example.com")]))
    result = await client.aio.interactions.create(
        model=MODEL, input="who won?", tools=[{"type": "google_search"}])
    kinds = [type(s).__name__ for s in result.steps]
    assert kinds == ["UserInputStep", "ThoughtStep", "GoogleSearchCallStep",
                     "GoogleSearchResultStep", "ModelOutputStep"]
    assert result.steps[2].arguments.queries == ["super bowl 2026 winner"]
    assert result.steps[3].call_id == result.steps[2].id
    (citation,) = result.steps[-1].content[0].annotations
    assert type(citation).__name__ == "URLCitation"
    assert (citation.url, citation.start_index, citation.end_index) == (
        "https://example.com/sb60", 0, len(answer))
    assert result.output_text == answer


async def test_search_without_tool_is_skipped(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="From memory.", search=SearchCall(queries=["q"])))
    result = await client.aio.interactions.create(model=MODEL, input="who won?")
    assert [s.type for s in result.steps] == ["user_input", "model_output"]
    assert fake.skipped_searches == [result.id]


async def test_search_and_citation_stream_deltas(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="Answer.", search=SearchCall(queries=["q"]),
                     citations=[Citation("https://a.example", "a")]))
    events = await collect(await client.aio.interactions.create(
        model=MODEL, input="q?", tools=[{"type": "google_search"}], stream=True))
    delta_types = [e.delta.type for e in events if e.event_type == "step.delta"]
    assert delta_types == ["google_search_call", "google_search_result", "text",
                           "text_annotation_delta"]


async def test_image_output(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="Here you go.", image=PNG))
    result = await client.aio.interactions.create(
        model="gemini-3-pro-image", input="draw", response_modalities=["image", "text"])
    assert result.output_image.mime_type == "image/png"
    assert base64.b64decode(result.output_image.data) == PNG
    assert result.output_text == "Here you go."


async def test_error_event_mid_stream(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="partial answer here", chunk_size=4, error_after_chunks=2,
                     error_event={"code": "resource_exhausted", "message": "quota"}))
    events = await collect(
        await client.aio.interactions.create(model=MODEL, input="go", stream=True))
    assert events[-1].event_type == "error"
    assert events[-1].error.code == "resource_exhausted"
    assert len([e for e in events if e.event_type == "step.delta"]) == 2
    stored = fake.interactions[events[0].interaction.id]
    assert stored["status"] == "failed"
    assert stored["steps"][-1]["content"][0]["text"] == "partial "


async def test_drop_mid_stream(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="abcdefghij", chunk_size=2, drop_after_chunks=2))
    seen: list[Any] = []
    with pytest.raises(gi.APIConnectionError, match="incomplete chunked read"):
        async for event in await client.aio.interactions.create(
            model=MODEL, input="go", stream=True
        ):
            seen.append(event)
    assert [e.delta.text for e in seen if e.event_type == "step.delta"] == ["ab", "cd"]
    assert fake.interactions[seen[0].interaction.id]["status"] == "failed"
    fake.queue(Reply(text="never sent", drop_after_chunks=0))
    with pytest.raises(gi.APIConnectionError):
        await client.aio.interactions.create(model=MODEL, input="go")


async def test_http_errors(fake: FakeGemini, client: Any) -> None:
    create = client.aio.interactions.create
    fake.fail_next()
    with pytest.raises(gi.InternalServerError) as info:
        await create(model=MODEL, input="hi")
    assert info.value.body == {"error": {"code": "internal", "message": info.value.body[
        "error"]["message"]}}
    fake.fail_next(status=429, retry_after=3)
    with pytest.raises(gi.RateLimitError) as rate:
        await create(model=MODEL, input="hi")
    assert rate.value.response.headers["retry-after"] == "3"
    assert rate.value.body["error"]["code"] == "resource_exhausted"
    fake.queue(Reply(http_status=503))
    with pytest.raises(gi.InternalServerError):
        await create(model=MODEL, input="hi")
    assert (await create(model=MODEL, input="hi")).output_text == "echo: hi"


async def test_auth(fake: FakeGemini, raw: httpx2.AsyncClient) -> None:
    wrong = make_client(fake, key="wrong-key")
    try:
        with pytest.raises(gi.PermissionDeniedError):
            await wrong.aio.interactions.create(model=MODEL, input="hi")
    finally:
        await wrong.aio.aclose()
    resp = await raw.post("/v1beta/interactions", headers={"x-goog-api-key": ""},
                          json={"model": MODEL, "input": "hi"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"


async def test_background_polling_and_cancel(fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="deep result", background_polls=2))
    started = await api.create(model=MODEL, input="research", background=True)
    assert started.status == "in_progress" and not started.steps
    polls = [(await api.get(started.id)).status for _ in range(3)]
    assert polls == ["in_progress", "in_progress", "completed"]
    assert (await api.get(started.id)).output_text == "deep result"
    with pytest.raises(gi.BadRequestError, match="not running"):
        await api.cancel(started.id)
    fake.queue(Reply(text="never", background_polls=5))
    other = await api.create(model=MODEL, input="research more", background=True)
    assert (await api.cancel(other.id)).status == "cancelled"
    assert (await api.get(other.id)).status == "cancelled"


async def test_cancel_in_flight_background_stream(fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="x" * 40, chunk_size=1, delay_s=0.02))
    stream = await api.create(model=MODEL, input="long", stream=True, background=True)
    events: list[Any] = []
    async for event in stream:
        events.append(event)
        if event.event_type == "step.delta" and event.delta.text and len(events) == 6:
            cancelled = await api.cancel(events[0].interaction.id)
            assert cancelled.status == "cancelled"
    deltas = [e for e in events if e.event_type == "step.delta"]
    assert 3 <= len(deltas) < 40
    assert events[-1].event_type == "interaction.completed"
    assert events[-1].interaction.status == "cancelled"


async def test_client_disconnect_is_recorded(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="y" * 50, chunk_size=1, delay_s=0.02))
    stream = await client.aio.interactions.create(model=MODEL, input="long", stream=True)
    iid = ""
    async for event in stream:
        iid = iid or event.interaction.id
        if event.event_type == "step.delta":
            break
    await stream.close()
    for _ in range(100):
        if fake.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake.disconnects == 1
    stored = fake.interactions[iid]
    assert stored["status"] == "cancelled"
    assert 0 < len(stored["steps"][-1]["content"][0]["text"]) < 50


async def test_hang_times_out(fake: FakeGemini) -> None:
    fake.queue(Reply(text="late", hang_s=5))
    slow = make_client(fake, timeout_ms=200)
    try:
        with pytest.raises(gi.APITimeoutError):
            await slow.aio.interactions.create(model=MODEL, input="hi")
    finally:
        await slow.aio.aclose()
    for _ in range(100):
        if fake.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake.disconnects == 1


async def test_get_stream_replays_after_last_event_id(fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="replay me please", chunk_size=6))
    first = await collect(await api.create(model=MODEL, input="go", stream=True))
    iid = first[0].interaction.id
    again = await collect(await api.get(iid, stream=True, last_event_id=first[2].event_id))
    assert [e.event_id for e in again] == [e.event_id for e in first[3:]]
    result = await api.get(iid, include_input=True)
    assert result.input == "go"
    await api.delete(iid)
    with pytest.raises(gi.NotFoundError):
        await api.get(iid)


async def test_sdk_level_rejections(client: Any) -> None:
    create = client.aio.interactions.create
    with pytest.raises(gi.BadRequestError, match="Unknown name 'temperature'"):
        await create(model=MODEL, input="hi", extra_body={"temperature": 0.3})
    with pytest.raises(gi.BadRequestError, match="unknown tool type"):
        await create(model=MODEL, input="hi", tools=[{"type": "web_browser"}])
    with pytest.raises(gi.BadRequestError, match="name is required"):
        await create(model=MODEL, input="hi", tools=[{"type": "function"}])
    with pytest.raises(gi.BadRequestError, match="thinking_budget"):
        await create(model=MODEL, input="hi", generation_config={"thinking_budget": 10})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input": "hi"}, "Exactly one of"),
        ({"model": MODEL, "agent": "deep-research-preview-04-2026", "input": "hi"}, "one of"),
        ({"model": MODEL}, "'input' is required"),
        ({"model": MODEL, "input": ""}, "must not be empty"),
        ({"model": MODEL, "input": "hi", "stream": "yes"}, "TYPE_BOOL"),
        ({"model": MODEL, "input": "hi", "system_instruction": {"parts": []}}, "TYPE_STRING"),
        ({"agent": "deep-research-preview-04-2026", "input": "hi",
          "generation_config": {}}, "generation_config"),
        ({"model": MODEL, "input": [{"text": "no type"}]}, "type is required"),
        ({"model": MODEL, "input": [{"type": "document", "mime_type": "application/pdf",
                                     "data": "JVBERi0=", "uri": "gs://x"}]}, "exactly one"),
        ({"model": MODEL, "input": [{"type": "audio", "data": "AAAA"}]}, "mime_type"),
        ({"model": MODEL, "input": "hi", "continuation_token": "tok_x"}, "continuation_token"),
        ({"model": MODEL, "input": "hi", "background": True, "store": False}, "store"),
        ({"model": MODEL, "input": "hi",
          "generation_config": {"image_config": {"aspect_ratio": "7:3"}}}, "aspect_ratio"),
        ({"model": MODEL, "input": "hi",
          "generation_config": {"image_config": {"ratio": "1:1"}}}, "Unknown name 'ratio'"),
    ],
)
async def test_wire_rejections(
    raw: httpx2.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    resp = await raw.post("/v1beta/interactions", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_argument" and fragment in error["message"]


async def test_routes_and_empty_bodies(fake: FakeGemini, raw: httpx2.AsyncClient) -> None:
    resp = await raw.get("/v1beta/models")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = await raw.post("/v1/interactions/v1_nope/cancel",
                          headers={"Content-Type": "application/json"}, content=b"")
    assert resp.status_code == 404
    assert fake.requests[-1].version == "v1" and fake.requests[-1].body is None
    resp = await raw.post("/v1beta/interactions", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


async def test_automatic_continuation(fake: FakeGemini, client: Any) -> None:
    fake.queue(Reply(text="part one ", status="requires_continuation"))
    fake.queue(Reply(text="part two"))
    result = await client.aio.interactions.create(model=MODEL, input="long answer please")
    assert result.output_text == "part one part two"
    assert len(result.continuation_ids) == 2
    follow_up = fake.creates[-1]
    assert "input" not in follow_up
    assert follow_up["previous_interaction_id"] == result.continuation_ids[0]
    assert follow_up["continuation_token"] in fake.tokens


async def test_agent_background_and_model_only_fields(fake: FakeGemini, client: Any) -> None:
    agent = "deep-research-preview-04-2026"
    fake.queue(Reply(text="report", background_polls=0), model=agent)
    api = client.aio.interactions
    started = await api.create(agent=agent, input="research x", background=True)
    assert started.status == "in_progress"
    done = await api.get(started.id)
    assert (done.status, done.agent, done.output_text) == ("completed", agent, "report")
    assert fake.requests[-1].query == {"stream": "false"}
    assert fake.requests[-1].headers["ACCEPT"] == "application/json"


# structured output -----------------------------------------------------------------------------
RECIPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "recipe_name": {"type": "string"},
        "ingredients": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
        "prep_time_minutes": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["recipe_name", "ingredients"],
    "$defs": {"Item": {"type": "object", "properties": {"name": {"type": "string"}},
                       "required": ["name"]}},
}
JSON_FORMAT = {"type": "text", "mime_type": "application/json", "schema": RECIPE_SCHEMA}


async def test_structured_output_answers_json_valid_for_the_schema(
        fake: FakeGemini, client: Any) -> None:
    from fakes.gemini.structured import violations

    made = await client.aio.interactions.create(model=MODEL, input="banana bread",
                                                response_format=JSON_FORMAT)
    answer = json.loads(made.output_text)
    assert violations(answer, RECIPE_SCHEMA) == []
    assert answer["recipe_name"] == "banana bread" and answer["ingredients"][0]["name"]
    scripted = '{"recipe_name": "Bread", "ingredients": [], "prep_time_minutes": 15}'
    fake.queue(Reply(text=scripted))
    made = await client.aio.interactions.create(model=MODEL, input="x",
                                                response_format=JSON_FORMAT)
    assert made.output_text == scripted


async def test_structured_output_rejects_bad_formats_and_impossible_scripts(
        fake: FakeGemini, client: Any) -> None:
    with pytest.raises(gi.BadRequestError):
        await client.aio.interactions.create(model=MODEL, input="x", response_format={
            "type": "text", "mime_type": "text/plain", "schema": RECIPE_SCHEMA})
    with pytest.raises(gi.BadRequestError):
        await client.aio.interactions.create(model=MODEL, input="x", response_format={
            "type": "text", "mime_type": "application/json",
            "schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}})
    fake.queue(Reply(text='{"recipe_name": 3}'))
    with pytest.raises(gi.InternalServerError):
        await client.aio.interactions.create(model=MODEL, input="x",
                                             response_format=JSON_FORMAT)
    assert "not valid for the request's JSON schema" in fake.script_errors[0]
    fake.script_errors.clear()
    fake.reset()
    fake.queue(Reply(text='{"recipe_name": "cut off', malformed_json=True))
    made = await client.aio.interactions.create(model=MODEL, input="x",
                                                response_format=JSON_FORMAT)
    assert made.output_text == '{"recipe_name": "cut off'


async def test_cancel_refuses_foreground_interactions(fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="x" * 40, chunk_size=1, delay_s=0.05))
    stream = await api.create(model=MODEL, input="long", stream=True)
    first = None
    async for event in stream:
        first = event
        break
    assert first is not None
    with pytest.raises(gi.BadRequestError, match="only background interactions"):
        await api.cancel(first.interaction.id)
    await stream.close()


AGENT = "antigravity-preview-05-2026"


async def test_agent_run_finishes_after_scripted_time_with_environment(
        fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="fib done", background_s=0.3), model=AGENT)
    started = await api.create(agent=AGENT, input="write fib.py", environment="remote",
                               background=True)
    assert started.status == "in_progress" and not started.steps
    env = started.environment_id
    assert env and env in fake.environments
    polled = await api.get(started.id)
    assert polled.status == "in_progress" and not polled.steps  # early polls: no steps
    await asyncio.sleep(0.35)
    done = await api.get(started.id)
    assert (done.status, done.output_text, done.environment_id) == ("completed", "fib done", env)
    assert [s.type for s in done.steps] == ["user_input", "model_output"]
    assert len(fake.polls(started.id)) == 2
    # The next run in the same sandbox, chained to the first.
    fake.queue(Reply(text="file still there", background_polls=0), model=AGENT)
    again = await api.create(agent=AGENT, input="cat fib.txt", environment=env,
                             background=True, previous_interaction_id=started.id)
    assert again.environment_id == env
    assert (await api.get(again.id)).output_text == "file still there"


async def test_agent_requests_the_api_would_refuse(fake: FakeGemini, client: Any,
                                                   raw: httpx2.AsyncClient) -> None:
    api = client.aio.interactions
    with pytest.raises(gi.NotFoundError, match="env_nope"):
        await api.create(agent=AGENT, input="x", environment="env_nope", background=True)
    resp = await raw.post("/v1beta/interactions", json={
        "agent": AGENT, "input": "x", "environment": {"type": "local"}, "background": True})
    assert resp.status_code == 400 and "environment.type" in resp.json()["error"]["message"]
    with pytest.raises(gi.BadRequestError, match="generation_config"):
        await api.create(agent=AGENT, input="x", background=True,
                         extra_body={"generation_config": {"temperature": 0.1}})
    with pytest.raises(gi.BadRequestError, match="Exactly one"):
        await api.create(agent=AGENT, input="x", extra_body={"model": MODEL})
    with pytest.raises(gi.NotFoundError):
        await api.get("v1_unknown")
    assert not fake.interactions


async def test_background_run_fails_or_is_cancelled_with_reason(fake: FakeGemini,
                                                                client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(error_event={"code": "internal", "message": "sandbox crashed"},
                     background_s=0.0), model=AGENT)
    failed = await api.create(agent=AGENT, input="x", environment="remote", background=True)
    got = await api.get(failed.id)
    assert got.status == "failed" and got.errors[0].message == "sandbox crashed"
    fake.queue(Reply(text="never", background_s=60), model=AGENT)
    running = await api.create(agent=AGENT, input="y", environment="remote", background=True)
    assert (await api.cancel(running.id)).status == "cancelled"
    assert (await api.get(running.id)).status == "cancelled"
    with pytest.raises(gi.BadRequestError, match="not running"):
        await api.cancel(running.id)


async def test_polls_can_fail_with_scripted_errors(fake: FakeGemini, client: Any) -> None:
    api = client.aio.interactions
    fake.queue(Reply(text="ok", background_polls=0), model=AGENT)
    run = await api.create(agent=AGENT, input="x", background=True)
    fake.fail_next_gets(1, status=429)
    with pytest.raises(gi.RateLimitError):
        await api.get(run.id)
    fake.fail_next_gets(1, status=503)
    with pytest.raises(gi.InternalServerError):
        await api.get(run.id)
    assert (await api.get(run.id)).output_text == "ok"


async def test_slow_polls_time_out_in_the_client(fake: FakeGemini) -> None:
    slow = make_client(fake, timeout_ms=200)
    try:
        fake.queue(Reply(text="ok", background_polls=0), model=AGENT)
        run = await slow.aio.interactions.create(agent=AGENT, input="x", background=True)
        fake.delay_next_gets(0.5)
        with pytest.raises(gi.APITimeoutError):
            await slow.aio.interactions.get(run.id)
        assert (await slow.aio.interactions.get(run.id)).output_text == "ok"
    finally:
        await slow.aio.aclose()
