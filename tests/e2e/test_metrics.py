"""GET /metrics: what happened to deliveries, turns, Gemini and Slack, in Prometheus format."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from tests.e2e.test_threads import bot_replies, mention
from tests.support.harness import RunningBot, wait_until


async def scrape(bot: RunningBot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the bot's /metrics, by (name, sorted labels)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(bot.url.replace("/slack/events", "/metrics")) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_deliveries_duplicates_turns_and_errors(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "count me")
    await wait_until(lambda: bot_replies(slack, "C1", ts) == ["echo: <@U1>: count me"])
    status, *_ = await bot.send(bot.sender.app_mention("C1", "U1", "<@UBOT> count me", ts))
    assert status == 200  # Slack's retry of the same message: acked, not answered again
    gemini.fail_next(times=10, status=500, code="internal", message="boom")
    failing = await mention(slack, bot, "this one fails")
    await bot.settle()
    assert "Please try again" in bot_replies(slack, "C1", failing)[-1]

    m = await scrape(bot)
    assert m[("gemini_slack_events_received_total", (("type", "app_mention"),))] == 3
    assert m[("gemini_slack_events_acked_total",
              (("status", "200"), ("type", "app_mention")))] == 3
    assert m[("gemini_slack_ack_seconds_count", (("type", "app_mention"),))] == 3
    assert m[("gemini_slack_duplicates_suppressed_total", ())] == 1
    assert m[("gemini_slack_turns_total", (("outcome", "answered"),))] == 1
    assert m[("gemini_slack_turns_total", (("outcome", "failed"),))] == 1
    assert m[("gemini_slack_gemini_errors_total",
              (("code", "internal"), ("method", "interactions.create")))] == 1
    assert m[("gemini_slack_gemini_tokens_total", ())] > 0
    assert m[("gemini_slack_time_to_first_text_seconds_count", ())] == 2
    assert m[("gemini_slack_turn_duration_seconds_count", ())] == 1
    assert m[("gemini_slack_store_up", ())] == 1
    assert m[("gemini_slack_spooled_messages", ())] == 0
    assert m[("gemini_slack_pending_jobs", ())] == 0


async def test_metrics_show_pending_background_jobs(bot: RunningBot) -> None:
    jobs = bot.services.store.jobs
    for n in range(3):
        await jobs.schedule(f"test:{n}", "unregistered-kind", 4_000_000_000.0, {})
    m = await scrape(bot)
    assert m[("gemini_slack_pending_jobs", ())] == 3


async def test_metrics_count_slack_errors_and_429s(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=1)  # waited out, then posted
    ts = await mention(slack, bot, "rate limited")
    await wait_until(lambda: bot_replies(slack, "C1", ts) == ["echo: <@U1>: rate limited"])
    await bot.settle()
    slack.fail_next("chat.delete", error="cant_delete_message")
    with pytest.raises(SlackApiError, match="cant_delete_message"):
        await bot.services.slack.chat_delete(channel="C1", ts=ts)
    m = await scrape(bot)
    assert m[("gemini_slack_slack_rate_limited_total", (("method", "chat.postMessage"),))] == 1
    assert m[("gemini_slack_slack_retry_wait_seconds_total", ())] >= 1
    assert m[("gemini_slack_slack_errors_total",
              (("code", "cant_delete_message"), ("method", "chat.delete")))] == 1
