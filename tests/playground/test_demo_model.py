"""The offline demo model through the real SDK, and the fake hooks the playground relies on."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from playground.demo_model import responder
from playground.pictures import landscape
from tests.fakes.test_fake_gemini import make_client

MODEL = "gemini-3.5-flash"
IMAGE_MODEL = "gemini-3.1-flash-image"


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") or "" for step in result.steps or []
                   if step.type == "model_output" for c in step.content or [])


async def test_demo_answers_follow_the_question_and_images_are_pngs() -> None:
    async with FakeGemini(api_key="k", responder=responder(IMAGE_MODEL)) as fake:
        create = make_client(fake, key="k").aio.interactions.create
        welcome = await create(model=MODEL, input="<@U1>: hello")
        assert "offline demo model" in _text(welcome) and "_hello_" in _text(welcome)
        table = await create(model=MODEL, input="<@U1>: compare these in a table")
        assert "| Topic | Slack | Email |" in _text(table)
        picture = await create(model=IMAGE_MODEL, input="a blue lake")
        image = next(c for s in picture.steps if s.type == "model_output"
                     for c in s.content if c.type == "image")
        assert image.mime_type == "image/png" and image.data


def test_pictures_are_valid_pngs_that_follow_the_prompt() -> None:
    blue, red = landscape("make it blue", size=32), landscape("something red", size=32)
    assert blue.startswith(b"\x89PNG\r\n\x1a\n") and blue.endswith(b"IEND\xaeB`\x82")
    assert blue != red


async def test_a_search_reply_can_pause_between_steps() -> None:
    async with FakeGemini(api_key="k", responder=responder(IMAGE_MODEL)) as fake:
        client = make_client(fake, key="k")
        started = time.monotonic()
        stream = await client.aio.interactions.create(
            model=MODEL, input="<@U1>: search the news", stream=True,
            tools=[{"type": "google_search"}])
        kinds = [event.event_type async for event in stream]
        assert kinds.count("step.start") == 3, "search call, search result, answer"
        assert time.monotonic() - started >= 2 * 0.6, "a pause before each step after the first"


async def test_fake_slack_tells_watchers_about_every_request() -> None:
    async with FakeSlack() as slack:
        seen: list[int] = []
        slack.watchers.append(lambda: seen.append(len(slack.calls)))
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.auth_test()
        assert seen == [1], "called once, after the call was recorded"


async def test_structured_output_requests_get_json_that_fits_the_schema() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}},
              "required": ["title"]}
    async with FakeGemini(api_key="k", responder=responder(IMAGE_MODEL)) as fake:
        made = await make_client(fake, key="k").aio.interactions.create(
            model=MODEL, input="<@U1>: summarise",
            response_format={"type": "text", "mime_type": "application/json", "schema": schema})
    assert isinstance(json.loads(_text(made))["title"], str)
