"""The fake Slack, driven through the real slack_sdk AsyncWebClient (and Bolt for events)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from fakes.slack import EventSender, FakeSlack

SECRET = "signing-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A started fake with a public channel, a DM and two users."""
    slack = FakeSlack(bot_token="xoxb-test", app_token="xapp-test", team_id="T1",
                      bot_user_id="UBOT", bot_id="BBOT")
    await slack.start()
    slack.add_channel("C1", name="general")
    slack.add_channel("D1", is_im=True, user="U1")
    slack.add_user("U1", name="alice")
    slack.add_user("U2", name="bob", is_admin=True)
    yield slack
    await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    """The real SDK client pointed at the fake."""
    return AsyncWebClient(token="xoxb-test", base_url=fake.api_url)


async def _error(coro: Any) -> SlackApiError:
    """Await a call that must fail and return the SlackApiError."""
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


class Capture:
    """A tiny HTTP server standing in for the bot's request URL."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], str]] = []
        self.statuses = statuses or []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.text()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="")

    async def __aenter__(self) -> Capture:
        app = web.Application()
        app.router.add_post("/slack/events", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


# auth and transport ------------------------------------------------------------------------
async def test_auth_and_token_errors(fake: FakeSlack, client: AsyncWebClient) -> None:
    me = await client.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"]) == ("UBOT", "BBOT", "T1")
    assert (await _error(AsyncWebClient(base_url=fake.api_url).auth_test())).response[
        "error"] == "not_authed"
    bad = AsyncWebClient(token="xoxb-nope", base_url=fake.api_url)
    assert (await _error(bad.auth_test())).response["error"] == "invalid_auth"
    app = AsyncWebClient(token="xapp-test", base_url=fake.api_url)
    err = await _error(app.chat_postMessage(channel="C1", text="x"))
    assert err.response["error"] == "not_allowed_token_type"
    err = await _error(client.apps_connections_open(app_token="xoxb-test"))
    assert err.response["error"] == "not_allowed_token_type"
    assert (await app.apps_connections_open(app_token="xapp-test"))["url"].startswith("ws://")
    assert (await _error(client.api_call("chat.frobnicate"))).response["error"] == (
        "unknown_method")
    assert [c.method for c in fake.calls][:2] == ["auth.test", "auth.test"]
    assert fake.calls[0].ok and fake.calls[1].error == "not_authed"


# posting, updating, what people see ----------------------------------------------------------
async def test_post_update_and_visible_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = fake.post_user_message("C1", user="U1", text="<@UBOT> explain")
    first = await client.chat_postMessage(channel="C1", thread_ts=parent, text="thinking…")
    assert first["message"]["thread_ts"] == parent
    await client.chat_update(channel="C1", ts=first["ts"], text="fallback", blocks=[
        {"type": "markdown", "text": "**Answer** one"},
        {"type": "actions", "elements": [{"type": "button", "action_id": "regen",
                                          "text": {"type": "plain_text", "text": "Again"}}]},
    ])
    await client.chat_postMessage(channel="C1", thread_ts=parent, markdown_text="Part *two*")
    thread = fake.visible_thread("C1", parent)
    assert [m.user for m in thread] == ["U1", "UBOT", "UBOT"]
    assert thread[1].visible == "**Answer** one" and thread[1].edited
    assert thread[1].buttons == ["regen"]
    assert fake.visible_text("C1", parent) == "**Answer** one\nPart *two*"
    # Slack keeps the blocks when chat.update only sends text: the new text stays invisible.
    await client.chat_update(channel="C1", ts=first["ts"], text="ignored")
    assert fake.visible_thread("C1", parent)[1].visible == "**Answer** one"
    await client.chat_delete(channel="C1", ts=first["ts"])
    assert fake.visible_text("C1", parent) == "Part *two*"
    assert float(first["ts"]) < float(thread[2].ts)


def _blocks(n: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(block) for _ in range(n)]


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
BUTTON = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "ok"}}


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C404", "text": "x"}, "channel_not_found"),
        ({"channel": "CNOT", "text": "x"}, "not_in_channel"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "text": "x", "markdown_text": "y"}, "invalid_arguments"),
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "C1", "markdown_text": "x" * 12_001}, "msg_too_long"),
        ({"channel": "C1", "text": "x", "blocks": _blocks(51, SECTION)}, "msg_blocks_too_long"),
        ({"channel": "C1", "text": "x", "blocks": _blocks(2, {"type": "markdown",
                                                              "text": "y" * 6001})},
         "msg_blocks_too_long"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "poem"}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "y" * 3001}}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "header", "text": {
            "type": "plain_text", "text": "y" * 151}}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{**SECTION, "block_id": "b" * 256}]},
         "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "actions", "elements": [
            {**BUTTON, "action_id": f"a{i}"} for i in range(26)]}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "actions", "elements": [
            BUTTON, BUTTON]}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "actions", "elements": [
            {**BUTTON, "text": {"type": "plain_text", "text": "y" * 76}}]}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "actions", "elements": [
            {**BUTTON, "value": "v" * 2001}]}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": "c"}] * 11}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "table", "rows": [
            [{"type": "raw_text", "text": "c"}]] * 101}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": [{"type": "table", "rows": [
            [{"type": "raw_text", "text": "c"}] * 21]}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "thread_ts": "1700000000.000001"}, "invalid_thread_ts"),
    ],
)
async def test_post_message_rejections(
    fake: FakeSlack, client: AsyncWebClient, kwargs: dict[str, Any], error: str
) -> None:
    fake.add_channel("CNOT", name="elsewhere", is_member=False)
    err = await _error(client.chat_postMessage(**kwargs))
    assert err.response.status_code == 200 and err.response["error"] == error
    assert fake.calls_to("chat.postMessage")[-1].error == error


async def test_update_rejections_and_accepted_blocks(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    human = fake.post_user_message("C1", user="U1", text="mine")
    err = await _error(client.chat_update(channel="C1", ts=human, text="hijack"))
    assert err.response["error"] == "cant_update_message"
    err = await _error(client.chat_update(channel="C1", ts="1700000000.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    posted = await client.chat_postMessage(channel="C1", text="x", blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {"type": "table", "rows": [[{"type": "raw_text", "text": "a"},
                                    {"type": "raw_number", "value": 1, "text": "1"}]]},
        {"type": "context_actions", "elements": [{
            "type": "feedback_buttons", "action_id": "fb",
            "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": "up"},
            "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": "down"},
        }]},
    ])
    err = await _error(client.chat_update(channel="C1", ts=posted["ts"], text="x" * 40_001))
    assert err.response["error"] == "msg_too_long"
    (shown,) = fake.visible_thread("C1", posted["ts"])
    assert shown.visible == "Title\na | 1" and shown.buttons == ["fb"]


async def test_feedback_buttons_limits(client: AsyncWebClient) -> None:
    def feedback(label: str, action_id: str = "fb") -> list[dict[str, Any]]:
        side = {"text": {"type": "plain_text", "text": "👍"}, "value": "v",
                "accessibility_label": label}
        return [{"type": "context_actions", "elements": [{
            "type": "feedback_buttons", "action_id": action_id,
            "positive_button": side, "negative_button": side}]}]

    await client.chat_postMessage(channel="C1", text="x", blocks=feedback("a" * 75))
    for blocks in (feedback("a" * 76), feedback("ok", action_id="a" * 256)):
        err = await _error(client.chat_postMessage(channel="C1", text="x", blocks=blocks))
        assert err.response["error"] == "invalid_blocks"


# rate limits and scripted faults ----------------------------------------------------------------
async def test_chat_update_limit_is_50_per_rolling_minute(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ts = (await client.chat_postMessage(channel="C1", text="v0"))["ts"]
    for i in range(50):
        await client.chat_update(channel="C1", ts=ts, text=f"v{i + 1}")
    err = await _error(client.chat_update(channel="C1", ts=ts, text="too many"))
    assert err.response.status_code == 429 and err.response["error"] == "ratelimited"
    assert 1 <= int(err.response.headers["Retry-After"]) <= 60
    fake.advance(60)
    await client.chat_update(channel="C1", ts=ts, text="later")
    assert fake.visible_thread("C1", ts)[0].visible == "later"


async def test_post_message_bucket_then_retry_handler(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    for i in range(5):
        await client.chat_postMessage(channel="C1", text=f"burst {i}")
    err = await _error(client.chat_postMessage(channel="C1", text="sixth"))
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "1"
    await client.chat_postMessage(channel="D1", text="other channel has its own bucket")
    fake.advance(5)
    fake.fail_next("chat.postMessage", times=1, status=429, retry_after=1)
    patient = AsyncWebClient(token="xoxb-test", base_url=fake.api_url,
                             retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    start = time.monotonic()
    await patient.chat_postMessage(channel="C1", text="eventually")
    assert time.monotonic() - start >= 1.0
    assert [c.status for c in fake.calls_to("chat.postMessage")[-2:]] == [429, 200]


async def test_fail_next_business_error_and_server_error(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", error="msg_too_long")
    err = await _error(client.chat_postMessage(channel="C1", text="x"))
    assert err.response.status_code == 200 and err.response["error"] == "msg_too_long"
    fake.fail_next("reactions.add", status=503, times=2)
    for _ in range(2):
        assert (await _error(client.reactions_add(channel="C1", name="eyes",
                                                  timestamp="1"))).response.status_code == 503
    fake.fail_next("auth.test", status=0)  # dropped connection; the SDK retries it once
    assert (await client.auth_test())["ok"]
    assert [c.status for c in fake.calls_to("auth.test")] == [0, 200]
    fake.rate_limits = False
    for _ in range(10):
        await client.chat_postMessage(channel="C1", text="no limits now")


# native streaming and assistant status --------------------------------------------------------
async def test_native_stream_in_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    ask = fake.post_user_message("D1", user="U1", text="write a poem")
    await client.assistant_threads_setStatus(channel_id="D1", thread_ts=ask, status="thinking…",
                                             loading_messages=["Warming up"])
    assert fake.visible_status("D1", ask) == "thinking…"
    stream = await client.chat_stream(channel="D1", thread_ts=ask, buffer_size=5)
    await stream.append(markdown_text="Roses ")
    assert fake.visible_status("D1", ask) == ""
    await stream.append(markdown_text="are red")
    feedback = [{"type": "context_actions", "elements": [{"type": "icon_button", "icon": "trash",
                 "action_id": "delete", "text": {"type": "plain_text", "text": "Delete"}}]}]
    await stream.stop(markdown_text=".", blocks=feedback)
    (_, reply) = fake.visible_thread("D1", ask)
    assert (reply.visible, reply.streaming, reply.buttons) == ("Roses are red.", "stopped",
                                                                ["delete"])
    assert [c.method for c in fake.calls if c.method.startswith("chat.")] == [
        "chat.startStream", "chat.appendStream", "chat.stopStream"]
    err = await _error(client.chat_appendStream(channel="D1", ts=reply.ts, markdown_text="!"))
    assert err.response["error"] == "message_not_in_streaming_state"
    err = await _error(client.assistant_threads_setStatus(
        channel_id="D1", thread_ts=ask, status="x", loading_messages=["m"] * 11))
    assert err.response["error"] == "invalid_arguments"


async def test_stream_recipients_expiry_and_unsupported(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ask = fake.post_user_message("C1", user="U1", text="<@UBOT> hi")
    err = await _error(client.chat_startStream(channel="C1", thread_ts=ask, markdown_text="a"))
    assert err.response["error"] == "missing_recipient_team_id"
    err = await _error(client.chat_startStream(channel="C1", thread_ts=ask, markdown_text="a",
                                               recipient_team_id="T1"))
    assert err.response["error"] == "missing_recipient_user_id"
    started = await client.chat_startStream(channel="C1", thread_ts=ask, markdown_text="Part ",
                                            recipient_team_id="T1", recipient_user_id="U1")
    fake.advance(fake.stream_ttl_s + 1)
    assert fake.visible_thread("C1", ask)[1].streaming == "expired"
    err = await _error(client.chat_appendStream(channel="C1", ts=started["ts"],
                                                markdown_text="two"))
    assert err.response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="C1", ts=started["ts"], text="Part two (final)")
    assert fake.visible_text("C1", ask) == "Part two (final)"
    fake.streaming_supported = False
    err = await _error(client.chat_startStream(channel="D1", thread_ts=ask))
    assert err.response["error"] == "unknown_method"


# files --------------------------------------------------------------------------------------
async def test_files_upload_v2_into_thread_and_download(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.post_user_message("C1", user="U1", text="make a chart")
    up = await client.files_upload_v2(channel="C1", thread_ts=parent, content=b"col\n1\n",
                                      filename="chart.csv", title="Chart",
                                      initial_comment="Here you go")
    file = up["file"]
    assert (file["name"], file["title"], file["size"]) == ("chart.csv", "Chart", 6)
    reply = fake.visible_thread("C1", parent)[-1]
    assert reply.visible == "Here you go" and [f["id"] for f in reply.files] == [file["id"]]
    assert (await client.files_info(file=file["id"]))["file"]["mimetype"] == "text/csv"
    async with aiohttp.ClientSession() as http:
        async with http.get(file["url_private_download"],
                            headers={"Authorization": "Bearer xoxb-test"}) as resp:
            assert resp.status == 200 and await resp.read() == b"col\n1\n"
        async with http.get(file["url_private"]) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert b"col" not in await resp.read()
        slot = await client.files_getUploadURLExternal(filename="x.bin", length=5)
        async with http.post(slot["upload_url"], data=b"abc") as resp:
            assert resp.status == 400
    err = await _error(client.files_completeUploadExternal(files=[{"id": slot["file_id"]}],
                                                           channel_id="C1"))
    assert err.response["error"] == "file_not_found"
    human = fake.add_file(name="cat.png", mimetype="image/png", content=b"\x89PNG")
    assert human["filetype"] == "png" and human["url_private"].startswith(fake.base_url)


# reading history --------------------------------------------------------------------------------
async def test_replies_and_history_paging(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = fake.post_user_message("C1", user="U1", text="parent")
    replies = [fake.post_user_message("C1", user="U2", text=f"r{i}", thread_ts=parent)
               for i in range(7)]
    texts, last = [], None
    async for page in await client.conversations_replies(channel="C1", ts=parent, limit=3):
        texts.append([m["text"] for m in page["messages"]])
        if len(texts) == 1:
            assert page["messages"][0]["reply_count"] == 7 and page["has_more"] is True
        last = page
    assert texts == [["parent", "r0", "r1"], ["r2", "r3", "r4"], ["r5", "r6"]]
    assert last is not None and last["has_more"] is False
    assert last["response_metadata"]["next_cursor"] == ""
    err = await _error(client.conversations_replies(channel="C1", ts="1700000000.000001"))
    assert err.response["error"] == "thread_not_found"
    for i in range(20):
        fake.post_user_message("C1", user="U1", text=f"top{i}")
    hist = await client.conversations_history(channel="C1", limit=2, latest=replies[0],
                                              inclusive=True)
    assert [m["text"] for m in hist["messages"]] == ["parent"]
    fake.history_mode = "restricted"
    page = await client.conversations_history(channel="C1", limit=100)
    assert len(page["messages"]) == 15 and page["messages"][0]["text"] == "top19"
    err = await _error(client.conversations_history(channel="C1", cursor=page[
        "response_metadata"]["next_cursor"]))
    assert err.response.status_code == 429


# other methods --------------------------------------------------------------------------------
async def test_ephemeral_reactions_info_users(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert [e.visible for e in fake.ephemerals("C1", user="U1")] == ["only you"]
    fake.add_channel("C2", name="small", members={"U2"})
    err = await _error(client.chat_postEphemeral(channel="C2", user="U1", text="x"))
    assert err.response["error"] == "user_not_in_channel"
    ts = fake.post_user_message("C1", user="U1", text="hello")
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    err = await _error(client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    assert err.response["error"] == "already_reacted"
    assert fake.visible_thread("C1", ts)[0].reactions == {"eyes": ["UBOT"]}
    assert (await client.conversations_info(channel="D1"))["channel"]["is_im"] is True
    fake.add_channel("C3", name="random", is_member=False)
    assert (await client.conversations_join(channel="C3"))["channel"]["is_member"] is True
    assert (await client.users_info(user="U2"))["user"]["is_admin"] is True
    err = await _error(client.users_info(user="U404"))
    assert err.response["error"] == "user_not_found"
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION]})
    assert fake.home_views["U1"]["blocks"] == [SECTION]


async def test_response_url_five_uses(fake: FakeSlack) -> None:
    parent = fake.post_user_message("C1", user="U1", text="/ask")
    url = fake.new_response_url("C1", "U1", thread_ts=parent)
    async with aiohttp.ClientSession() as http:
        statuses = []
        for i in range(6):
            body = {"text": f"answer {i}", "response_type": "in_channel" if i == 0 else None}
            async with http.post(url, json={k: v for k, v in body.items() if v}) as resp:
                statuses.append(resp.status)
    assert statuses == [200] * 5 + [404]
    assert fake.visible_text("C1", parent) == "answer 0"
    assert len(fake.ephemerals("C1", "U1")) == 4 and len(fake.responses) == 6


# inbound side ---------------------------------------------------------------------------------
async def test_signed_events_commands_and_actions() -> None:
    async with Capture(statuses=[200, 200, 200, 200, 500, 200]) as bot:
        sender = EventSender(url=bot.url, signing_secret=SECRET, team_id="T1", api_app_id="A1",
                             bot_user_id="UBOT")
        event = sender.app_mention("C1", "U1", "<@UBOT> hi", "1700000000.000100")
        status, _, _, elapsed = await sender.send_event(event, event_id="Ev1")
        assert status == 200 and elapsed < 3
        await sender.send_event(event, event_id="Ev1", retry_num=1)
        await sender.send_command(command="/ask", text="why", user_id="U1", channel_id="C1",
                                  response_url="http://x/response/1")
        await sender.send_action(sender.block_action("regen", "v", message_ts="1.2"))
        attempts = await sender.deliver(sender.message("D1", "U1", "yo", "1.3",
                                                       channel_type="im"))
    assert [a.status for a in attempts] == [500, 200]
    verifier = SignatureVerifier(SECRET)
    for headers, body in bot.requests:
        assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"],
                                 headers["X-Slack-Signature"])
    first = json.loads(bot.requests[0][1])
    assert (first["type"], first["event_id"], first["event"]["type"]) == (
        "event_callback", "Ev1", "app_mention")
    assert first["authorizations"] == [{"enterprise_id": None, "team_id": "T1",
                                        "user_id": "UBOT", "is_bot": True,
                                        "is_enterprise_install": False}]
    assert "X-Slack-Retry-Num" not in bot.requests[0][0]
    assert (bot.requests[1][0]["X-Slack-Retry-Num"],
            bot.requests[1][0]["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    assert parse_qs(bot.requests[2][1])["command"] == ["/ask"]
    action = json.loads(parse_qs(bot.requests[3][1])["payload"][0])
    assert action["actions"][0]["action_id"] == "regen"
    assert bot.requests[5][0]["X-Slack-Retry-Reason"] == "http_error"
    assert not verifier.is_valid(bot.requests[0][1], "1", bot.requests[0][0][
        "X-Slack-Signature"])


async def test_bot_posts_echo_back_as_signed_events(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    async with Capture() as bot:
        fake.echo_events_to(bot.url, SECRET)
        await client.chat_postMessage(channel="D1", text="echo me")
        await fake.drain_echoes()
    (headers, body) = bot.requests[0]
    assert SignatureVerifier(SECRET).is_valid(body, headers["X-Slack-Request-Timestamp"],
                                              headers["X-Slack-Signature"])
    event = json.loads(body)["event"]
    assert (event["type"], event["bot_id"], event["channel_type"], event["text"]) == (
        "message", "BBOT", "im", "echo me")


async def test_bolt_app_round_trip(fake: FakeSlack, client: AsyncWebClient) -> None:
    from slack_bolt.async_app import AsyncApp

    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any) -> None:
        await say(text="hello back", thread_ts=event["ts"])

    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        sender = EventSender(url=url, signing_secret=SECRET)
        ts = fake.post_user_message("C1", user="U1", text="<@UBOT> hi")
        status, *_ = await sender.send_event(sender.app_mention("C1", "U1", "<@UBOT> hi", ts))
        assert status == 200
        for _ in range(100):
            if fake.calls_to("chat.postMessage"):
                break
            await asyncio.sleep(0.01)
        assert fake.visible_text("C1", ts) == "hello back"
        bad = await sender.send_event(sender.app_mention("C1", "U1", "x", ts),
                                      signing_secret="wrong")
        assert bad.status == 401
    finally:
        await runner.cleanup()


async def test_permalinks_backdated_messages_and_edit_events(
        fake: FakeSlack, client: AsyncWebClient) -> None:
    old = fake.post_user_message("C1", user="U1", text="old", ts="1700000000.000100")
    reply = fake.post_user_message("C1", user="U2", text="re", thread_ts=old)
    link = (await client.chat_getPermalink(channel="C1", message_ts=old))["permalink"]
    assert link == "https://fake-team.slack.com/archives/C1/p1700000000000100"
    link = (await client.chat_getPermalink(channel="C1", message_ts=reply))["permalink"]
    assert link.endswith(f"?thread_ts={old}&cid=C1")
    err = await _error(client.chat_getPermalink(channel="C1", message_ts="1.000001"))
    assert err.response["error"] == "message_not_found"
    fake.add_channel("G1", name="secret", is_private=True, is_member=False)
    err = await _error(client.chat_getPermalink(channel="G1", message_ts=old))
    assert err.response["error"] == "channel_not_found"
    with pytest.raises(ValueError):
        fake.post_user_message("C1", user="U1", text="dup", ts=old)
    sender = EventSender(url="http://unused", signing_secret=SECRET)
    previous = fake.edit_user_message("C1", old, "new text")
    changed = sender.message_changed("C1", previous, "new text")
    assert changed["subtype"] == "message_changed" and changed["message"]["ts"] == old
    assert changed["message"]["text"] == "new text" and previous["text"] == "old"
    assert fake.visible_thread("C1", old)[0].text == "new text"
    gone = sender.message_deleted("C1", fake.delete_user_message("C1", reply))
    assert gone["deleted_ts"] == reply
    assert [m.text for m in fake.visible_thread("C1", old)] == ["new text"]
    payload = sender.command_payload("/gemini", "digest now", response_url="http://r")
    assert payload["command"] == "/gemini" and payload["response_url"] == "http://r"


async def test_private_conversations_do_not_exist_for_non_members(
        fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("G2", name="hidden", is_private=True, is_member=False, members={"U1"})
    fake.add_channel("C5", name="open", is_member=False)
    err = await _error(client.chat_postMessage(channel="G2", text="x"))
    assert err.response["error"] == "channel_not_found"
    err = await _error(client.chat_postMessage(channel="C5", text="x"))
    assert err.response["error"] == "not_in_channel"
    err = await _error(client.conversations_join(channel="G2"))
    assert err.response["error"] == "method_not_supported_for_channel_type"


async def test_users_info_reports_the_time_zone_and_its_offset(
        fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U7", name="kenji", tz="Asia/Tokyo")
    user = (await client.users_info(user="U7"))["user"]
    assert user["tz"] == "Asia/Tokyo" and user["tz_offset"] == 9 * 3600
    assert (await client.users_info(user="U1"))["user"]["tz"] == "America/Los_Angeles"
