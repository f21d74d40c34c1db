"""Agent runs, unit level: reading a finished run's output, its thread message, its card."""

from __future__ import annotations

import base64
import time

from bot.agents.card import CANCEL, card_message
from bot.agents.outcome import read_output, result_markdown
from bot.agents.record import new_record

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


def _record(**changes: object) -> dict:
    record = new_record(run_id="r1", kind="agent", agent="a", task="write **fib**", asker="U1",
                        team_id="T1", channel="C1", thread_ts=None, card_ts="1.000001",
                        previous_interaction_id=None, environment_id=None, attach=True,
                        max_runtime_s=3600)
    record.update(changes)
    return record


def test_output_is_every_model_output_after_the_last_input_with_shifted_citations() -> None:
    interaction = {"status": "completed", "environment_id": "env_1", "steps": [
        {"type": "user_input", "content": [{"type": "text", "text": "old"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "stale"}]},
        {"type": "user_input", "content": [{"type": "text", "text": "task"}]},
        {"type": "thought", "summary": [{"type": "text", "text": "planning"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "Part one."}]},
        {"type": "code_execution_call", "id": "c1", "arguments": {"code": "print(1)"}},
        {"type": "model_output", "content": [
            {"type": "text", "text": "Part two.", "annotations": [
                {"type": "url_citation", "url": "https://x.example/a", "title": "A",
                 "start_index": 0, "end_index": 9}]},
            {"type": "image", "mime_type": "image/png", "data": base64.b64encode(PNG).decode()},
        ]},
    ]}
    out = read_output(interaction)
    assert out.text == "Part one.\n\nPart two."
    [cite] = out.citations
    assert out.text[cite.start_index:cite.end_index] == "Part two."
    assert out.images == [(PNG, "image/png")] and out.environment_id == "env_1"
    shown = result_markdown(_record(status="completed"), out)
    assert shown.startswith("<@U1> Here is the result of your agent task:")
    assert "Part two. [1]" in shown or "Part two.[1]" in shown
    assert "https://x.example/a" in shown


def test_thread_messages_say_what_happened_in_words() -> None:
    failed = read_output({"status": "failed", "errors": [{"code": "internal",
                                                          "message": "sandbox died"}]})
    assert result_markdown(_record(status="failed"), failed) == (
        "<@U1> Your agent task failed: sandbox died")
    assert result_markdown(_record(status="cancelled", cancelled_by="U9"), None) == (
        "<@U1> Your agent task was cancelled by <@U9>.")
    assert "no longer knows" in result_markdown(_record(status="lost"), None)
    expired = result_markdown(_record(status="expired", kind="research"), None)
    assert "research task was still running after 1 h 0 min" in expired
    assert "could not be started: bad agent" in result_markdown(
        _record(status="start_failed", error="bad agent"), None)
    empty = read_output({"status": "completed", "steps": []})
    assert "without any text output" in result_markdown(_record(status="completed"), empty)


def test_card_shows_status_elapsed_cancel_and_who_cancelled() -> None:
    now = time.time()
    running = _record(status="running", created_at=now - 125, progress="Reading the repo")
    text, blocks = card_message(running, now=now)
    shown = str(blocks)
    assert "Running" in shown and "2 min" in shown and "Reading the repo" in shown
    assert "write *fib*" in shown, "the task is shown as mrkdwn"
    assert CANCEL in shown and "<@U1>" in text
    done = _record(status="cancelled", cancelled_by="U2", finished_at=now)
    _, blocks = card_message(done, result_link="https://s.example/p1", now=now)
    shown = str(blocks)
    assert "cancelled by <@U2>" in shown and "https://s.example/p1|See the result" in shown
    assert CANCEL not in shown
