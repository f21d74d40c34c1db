"""Small pure pieces: the edit budget and event parsing."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from bot.delivery.edit_budget import UpdateBudget
from bot.threads.messages import NotATurn, parse_message_event, strip_bot_mention
from storage import RedisStore


async def test_budget_allows_a_burst_then_paces() -> None:
    budget = UpdateBudget(per_minute=60, burst=3)
    assert [await budget.try_take() for _ in range(4)] == [True, True, True, False]
    assert 0.5 < budget.delay() <= 1.0


async def test_budget_pause_blocks_everything() -> None:
    budget = UpdateBudget(per_minute=6000, burst=5)
    budget.pause(0.3)
    assert not await budget.try_take()
    await asyncio.sleep(0.31)
    assert await budget.try_take()


async def test_budget_is_shared_through_the_store_and_so_is_a_pause(redis_flushed: str) -> None:
    one_store, two_store = RedisStore.from_url(redis_flushed), RedisStore.from_url(redis_flushed)
    try:
        one = UpdateBudget(per_minute=60, burst=3, store=one_store)
        two = UpdateBudget(per_minute=60, burst=3, store=two_store)
        taken = [await one.try_take(), await two.try_take(), await one.try_take(),
                 await two.try_take()]
        assert taken == [True, True, True, False], "two processes share one workspace budget"
        assert 0.5 < two.delay() <= 1.0
        await asyncio.sleep(1.05)
        one.pause(5)
        assert not await one.try_take()
        assert not await two.try_take(), "a 429 seen by one process pauses the other"
        assert two.delay() > 3
    finally:
        await one_store.close()
        await two_store.close()


async def test_budget_falls_back_to_local_pacing_when_the_store_is_down() -> None:
    down = RedisStore.from_url("redis://127.0.0.1:1/0")
    try:
        budget = UpdateBudget(per_minute=60, burst=2, store=down)
        assert [await budget.try_take() for _ in range(3)] == [True, True, False]
    finally:
        await down.close()


def test_parse_rejects_malformed_events_loudly() -> None:
    with pytest.raises(NotATurn) as err:
        parse_message_event({"type": "message", "channel": "C1", "ts": "not-a-ts", "user": "U1"},
                            team_id="T1", mentioned=False)
    assert err.value.malformed
    with pytest.raises(NotATurn) as err:
        parse_message_event({"type": "message", "subtype": "message_deleted", "channel": "C1",
                             "ts": "1700000000.000100"}, team_id="T1", mentioned=False)
    assert not err.value.malformed


def test_parse_keeps_what_a_turn_needs() -> None:
    msg = parse_message_event({"type": "message", "channel": "D1", "user": "U1", "text": "hi",
                               "ts": "1700000000.000100", "subtype": "file_share",
                               "files": [{"id": "F1"}, "junk"]}, team_id="T1", mentioned=False)
    assert msg.is_dm and msg.reply_thread_ts == "1700000000.000100"
    assert msg.files == [{"id": "F1"}]
    assert strip_bot_mention("<@UBOT|gemini> hello <@U2>", "UBOT") == "hello <@U2>"


def test_logs_mask_tokens_even_in_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.logs import configure_logging, get_logger

    configure_logging("info", "json")
    try:
        log = get_logger("test")
        try:
            raise RuntimeError("request failed with xoxb-123-456-secret")
        except RuntimeError:
            log.exception("boom", token="xapp-1-A1-secret")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    assert "boom" in err and "[redacted]" in err
    assert "secret" not in err
