"""Small pure pieces: the edit budget and event parsing."""

from __future__ import annotations

import time

import pytest
import structlog

from bot.delivery.edit_budget import UpdateBudget
from bot.threads.messages import NotATurn, parse_message_event, strip_bot_mention


def test_budget_allows_a_burst_then_paces() -> None:
    budget = UpdateBudget(per_minute=60, burst=3)
    assert [budget.try_take() for _ in range(4)] == [True, True, True, False]
    assert 0.5 < budget.delay() <= 1.0


def test_budget_pause_blocks_everything() -> None:
    budget = UpdateBudget(per_minute=6000, burst=5)
    budget.pause(0.3)
    assert not budget.try_take()
    time.sleep(0.31)
    assert budget.try_take()


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
