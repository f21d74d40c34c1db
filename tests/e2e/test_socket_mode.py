"""Socket Mode: with SLACK_APP_TOKEN set, events arrive over the WebSocket and are answered."""

from __future__ import annotations

from aiohttp import web

from bot.app import build, connect_socket_mode
from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from storage import RedisStore
from tests.e2e.test_threads import bot_replies
from tests.support.harness import bot_settings, input_text, settle, wait_until


async def test_socket_mode_answers_an_envelope_and_acks_it(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str) -> None:
    settings = bot_settings(slack, gemini, slack_app_token="xapp-test",
                            slack_signing_secret=None)
    services, web_app = await build(settings, store=RedisStore.from_url(redis_flushed))
    runner = web.AppRunner(web_app)
    await runner.setup()  # runs start-up: auth.test, ready
    handler = await connect_socket_mode(web_app)
    try:
        ts = slack.post_user_message("C1", user="U1", text="<@UBOT> over the socket")
        payload = {
            "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "EvS1",
            "event_time": 1, "authorizations": [{"team_id": "T1", "user_id": "UBOT",
                                                 "is_bot": True}],
            "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> over the socket",
                      "ts": ts, "channel": "C1", "event_ts": ts},
        }
        ack = await slack.socket_mode.send("events_api", payload)
        assert ack is not None, "the envelope must be acknowledged"
        # The same event redelivered with retry_attempt is acked but not answered twice.
        assert await slack.socket_mode.send("events_api", payload, retry_attempt=1,
                                            retry_reason="timeout") is not None
        await wait_until(lambda: bot_replies(slack, "C1", ts) == [
            "echo: <@U1>: over the socket"], timeout=10)
        await settle(services)
        assert [input_text(c) for c in gemini.creates] == ["<@U1>: over the socket"]
        assert slack.calls_to("apps.connections.open")[0].headers["Authorization"] == (
            "Bearer xapp-test")
    finally:
        await handler.close_async()
        await runner.cleanup()
    assert not services.ready
