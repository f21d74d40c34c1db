"""The playground end to end over HTTP: page posts become Slack deliveries the real bot answers."""

from __future__ import annotations

import asyncio
import html
import json
import re
from typing import Any

import aiohttp
import pytest
import redis

from fakes.gemini import FakeGemini, Reply
from fakes.slack import VisibleMessage
from playground.demo_model import LABEL
from playground.stack import DM, YOU, Playground, start_playground
from storage import MemoryStore
from tests.playground.conftest import FeedReader
from tests.support.harness import settle, wait_until

GENERAL = "C0GENERAL"


async def post(http: aiohttp.ClientSession, pg: Playground, text: str, *,
               channel: str = GENERAL, thread_ts: str | None = None,
               files: list[str] | None = None, expect: int = 200) -> dict[str, Any]:
    """Send a message the way the composer does."""
    body = {"channel": channel, "text": text, "thread_ts": thread_ts, "files": files or []}
    async with http.post(pg.url + "api/messages", json=body) as resp:
        data = await resp.json()
        assert resp.status == expect, data
        return data


def bot_messages(pg: Playground, channel: str, ts: str) -> list[VisibleMessage]:
    """The bot's messages in a thread as a Slack user sees them."""
    return [m for m in pg.slack.visible_thread(channel, ts) if m.bot_id]


def actions_in(item_html: str) -> list[dict[str, Any]]:
    """The button actions the page would post back, read from a message's HTML."""
    return [json.loads(html.unescape(raw)) for raw in re.findall(r'data-action="([^"]*)"',
                                                                 item_html)]


async def test_page_shows_the_workspace_and_the_offline_label(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    async with http.get(playground.url) as resp:
        page = await resp.text()
    assert resp.status == 200
    assert LABEL in page
    assert "general" in page and "random" in page and f'data-channel="{DM}"' in page
    assert playground.services.settings.slack_api_url == playground.slack.api_url, \
        "the bot talks to the local Slack stand-in, never to slack.com"
    async with http.get(playground.url + "healthz") as resp:
        assert resp.status == 200 and (await resp.json())["ok"] is True


async def test_a_mention_is_delivered_like_slack_and_the_answer_streams_to_the_page(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini compare Slack and email in a table"))["ts"]
    await playground.bridge.drain()
    sent = [json.loads(body)["event"] for body, _ in playground.bridge.sender.sent]
    assert [e["type"] for e in sent] == ["app_mention", "message"]
    assert sent[0]["text"] == f"<@{playground.slack.bot_user_id}> compare Slack and email in " \
                              "a table"
    streaming = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                                 and i["streaming"])
    assert "cursor" in streaming["html"], "a streaming answer shows a cursor"
    done = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                            and "Regenerate" in i["html"])
    assert "<table>" in done["html"] and "<th>" in done["html"], "the table renders as a table"
    assert "<strong>In short:</strong>" in done["html"]
    parent = feed.items[f"{GENERAL}/{ts}"]
    assert parent["replies"] >= 1 and parent["mine"] is True
    answer = bot_messages(playground, GENERAL, ts)[-1].visible
    assert "Speed" in answer and "minutes to days" in answer


async def test_top_level_chatter_without_a_mention_gets_no_answer(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    ts = (await post(http, playground, "just talking among humans"))["ts"]
    await playground.bridge.drain()
    await settle(playground.services)
    assert bot_messages(playground, GENERAL, ts) == []


async def test_a_dm_needs_no_mention_and_a_thread_reply_continues_the_conversation(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    ts = (await post(http, playground, "show me some python code", channel=DM))["ts"]
    await wait_until(lambda: any("Hello, Slack!" in m.visible
                                 for m in bot_messages(playground, DM, ts)), 20, "DM answer")
    await settle(playground.services)
    await post(http, playground, "compare that in a table", channel=DM, thread_ts=ts)
    await wait_until(lambda: any("minutes to days" in m.visible
                                 for m in bot_messages(playground, DM, ts)), 20, "follow-up")
    creates = [c for c in playground.gemini.creates if c.get("model") != "gemini-3.1-flash-image"]
    assert creates[-1].get("previous_interaction_id"), "the follow-up continues the chain"


async def test_search_answer_has_linked_sources(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini search the latest Gemini news"))["ts"]
    done = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                            and "Regenerate" in i["html"])
    assert '<a href="https://ai.google.dev/gemini-api/docs/interactions"' in done["html"]
    assert 'target="_blank" rel="noopener noreferrer"' in done["html"]


async def test_draw_posts_an_image_the_page_can_show(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini draw a sunset"))["ts"]
    item = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                            and "/files/" in i["html"])
    file_id = re.search(r'src="/files/([A-Z0-9]+)"', item["html"])
    assert file_id is not None
    async with http.get(f"{playground.url}files/{file_id[1]}") as resp:
        body = await resp.read()
        assert resp.status == 200 and resp.content_type == "image/png"
    assert body.startswith(b"\x89PNG\r\n\x1a\n")


async def test_stop_button_from_the_page_stops_a_long_answer(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini tell me a long story"))["ts"]
    with_stop = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                                 and ">Stop</button>" in i["html"])
    stop = next(a for a in actions_in(with_stop["html"]) if a["action_id"] == "stop_answer")
    await wait_until(lambda: any(len(m.visible) > 200 for m in bot_messages(
        playground, GENERAL, ts)), 20, "some of the story")
    async with http.post(playground.url + "api/actions", json={
            "channel": GENERAL, "ts": with_stop["ts"], "action": stop}) as resp:
        assert resp.status == 200
    await wait_until(lambda: any(f"Stopped by <@{YOU}>" in m.visible
                                 for m in bot_messages(playground, GENERAL, ts)), 20, "stopped")
    await settle(playground.services)
    story = "\n".join(m.visible for m in bot_messages(playground, GENERAL, ts))
    assert "The end." not in story, "the story was cut short"


async def test_feedback_button_is_recorded(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini show me python code"))["ts"]
    done = await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                            and "Regenerate" in i["html"])
    thumbs_up = next(a for a in actions_in(done["html"]) if a["type"] == "feedback_buttons")
    async with http.post(playground.url + "api/actions", json={
            "channel": GENERAL, "ts": done["ts"], "action": thumbs_up}) as resp:
        assert resp.status == 200
    note = await feed.until(lambda i: i.get("ephemeral") is True)
    assert "Thanks for the feedback" in note["html"], "the page shows the bot's ephemeral reply"
    rating = json.loads(thumbs_up["value"])
    stored = await playground.services.store.get_feedback(rating["i"])
    assert {user: r["value"] for user, r in stored.items()} == {YOU: "positive"}


async def test_attached_file_reaches_the_model(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"name,score\nada,3\n", filename="scores.csv",
                   content_type="text/csv")
    async with http.post(playground.url + "api/files", data=form) as resp:
        uploaded = (await resp.json())["file"]
    assert resp.status == 200 and uploaded["name"] == "scores.csv"
    ts = (await post(http, playground, "@gemini what is in this file?",
                     files=[uploaded["id"]]))["ts"]
    await wait_until(lambda: any("I received your attachment" in m.visible
                                 for m in bot_messages(playground, GENERAL, ts)), 20, "answer")
    sent = json.dumps(playground.gemini.creates[-1])
    assert "scores.csv" in sent, "the model got the file (named) with the message"
    shown = playground.feed.items()
    parent = next(i for i in shown if i["key"] == f"{GENERAL}/{ts}")
    assert "scores.csv" in parent["html"] and "file-card" in parent["html"]


async def test_bad_requests_get_clear_answers(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    assert (await post(http, playground, "   ", expect=400))["error"] == \
        "Type a message or attach a file."
    assert "no such channel" in (await post(http, playground, "hi", channel="C404",
                                            expect=400))["error"]
    assert "no longer there" in (await post(http, playground, "hi", files=["F404"],
                                            expect=400))["error"]
    async with http.post(playground.url + "api/messages", json={"channel": GENERAL, "text": "x"},
                         headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403
    async with http.get(playground.url + "files/F404") as resp:
        assert resp.status == 404


async def test_markup_people_type_is_shown_as_text(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "<script>alert(1)</script> & <b>hi</b>"))["ts"]
    item = await feed.until(lambda i: i.get("ts") == ts)
    assert "<script>" not in item["html"] and "&lt;script&gt;" in item["html"]
    assert playground.slack.message(GENERAL, ts).text.startswith("&lt;script&gt;")


async def test_unknown_slash_command_is_explained(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    await post(http, playground, "/nosuchcommand do things")
    note = await feed.until(lambda i: i.get("ephemeral") is True)
    assert "is not a command this app handles" in note["html"]
    assert "Only visible to you" in note["html"]


async def test_with_a_gemini_key_the_playground_uses_the_configured_gemini_api(
        monkeypatch: pytest.MonkeyPatch, http: aiohttp.ClientSession) -> None:
    # Stands in for the real API: the playground must take key and URL from the environment.
    async with FakeGemini(api_key="a-real-key") as real:
        real.queue(Reply(text="a genuine answer"))
        monkeypatch.setenv("GEMINI_API_KEY", "a-real-key")
        monkeypatch.setenv("GEMINI_BASE_URL", real.base_url)
        pg = await start_playground("127.0.0.1", 0, store=MemoryStore())
        try:
            assert pg.gemini is None, "no offline model when a key is set"
            async with http.get(pg.url) as resp:
                page = await resp.text()
            assert LABEL not in page and "Gemini API — " in page
            ts = (await post(http, pg, "@gemini hi"))["ts"]
            await wait_until(lambda: any("a genuine answer" in m.visible
                                         for m in bot_messages(pg, GENERAL, ts)), 20, "answer")
            assert len(real.creates) == 1
        finally:
            await pg.stop()


async def test_state_goes_to_redis_when_redis_url_is_set(
        monkeypatch: pytest.MonkeyPatch, redis_flushed: str,
        http: aiohttp.ClientSession) -> None:
    monkeypatch.setenv("REDIS_URL", redis_flushed)
    pg = await start_playground("127.0.0.1", 0, real_gemini=False)
    try:
        assert pg.services.store.name == "redis"
        ts = (await post(http, pg, "@gemini show me python code"))["ts"]
        await wait_until(lambda: any("Hello, Slack!" in m.visible
                                     for m in bot_messages(pg, GENERAL, ts)), 20, "answer")
    finally:
        await pg.stop()
    with redis.Redis.from_url(redis_flushed) as client:
        assert any(ts.encode() in key for key in client.keys("*")), "the thread is in Redis"


async def test_slash_gemini_typed_in_the_composer_reaches_the_bot(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    await post(http, playground, "/gemini help")
    reply = await feed.until(lambda i: i.get("ephemeral") is True)
    assert "/gemini" in reply["html"] and "Only visible to you" in reply["html"]
    assert "is not a command" not in reply["html"]


async def test_thread_status_shows_while_the_model_searches(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    ts = (await post(http, playground, "@gemini search the weather"))["ts"]
    status = await feed.until(lambda i: i["kind"] == "status" and i["thread"] == ts)
    assert status["text"].startswith("gemini is searching"), status["text"]
    await feed.until(lambda i: i["kind"] == "msg" and i["thread"] == ts
                     and "Regenerate" in i["html"])
    assert f"status/{GENERAL}/{ts}" not in feed.items, "the status is gone once answered"


async def test_edit_streaming_shows_each_edit_live(http: aiohttp.ClientSession) -> None:
    pg = await start_playground("127.0.0.1", 0, real_gemini=False, store=MemoryStore(),
                                slack_streaming="edit", edit_interval_s=0.2)
    try:
        async with http.get(pg.url + "events") as resp:
            reader = FeedReader(resp)
            await reader.next_update()
            ts = (await post(http, pg, "@gemini tell me a long story"))["ts"]
            versions: dict[str, set[str]] = {}
            while not any(len(v) >= 4 for v in versions.values()):
                await asyncio.wait_for(reader.next_update(), 10)
                for item in reader.items.values():
                    if item.get("thread") == ts and "Once upon" in item["html"]:
                        versions.setdefault(item["key"], set()).add(item["html"])
        assert not pg.slack.calls_to("chat.startStream"), "edit mode: no native stream"
        assert len(pg.slack.calls_to("chat.update")) >= 3
    finally:
        await pg.stop()


async def test_a_message_the_page_cannot_draw_is_named_and_the_rest_still_shows(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    odd = playground.slack.post_user_message(
        GENERAL, YOU, "odd", blocks=[{"type": "rich_text", "elements": [
            {"type": "rich_text_list", "indent": "deep", "elements": []}]}])
    playground.feed.poke()
    item = await feed.until(lambda i: i.get("ts") == odd)
    assert "could not be drawn" in item["html"]
    ts = (await post(http, playground, "still works"))["ts"]
    assert "still works" in (await feed.until(lambda i: i.get("ts") == ts))["html"]


async def test_a_bot_that_cannot_be_reached_is_reported_on_the_page(
        playground: Playground, http: aiohttp.ClientSession, feed: FeedReader) -> None:
    await playground.bot_runner.cleanup()  # the bot is down
    ts = (await post(http, playground, "@gemini anyone there?"))["ts"]
    note = await feed.until(lambda i: i.get("ephemeral") is True)
    assert "Could not reach the bot" in note["html"] and note["thread"] == ts


async def test_the_page_answers_only_under_a_local_host_name(
        playground: Playground, http: aiohttp.ClientSession) -> None:
    async with http.get(playground.url, headers={"Host": "rebound.example:3000"}) as resp:
        assert resp.status == 403
    async with http.get(playground.url, headers={"Host": "localhost:3000"}) as resp:
        assert resp.status == 200
