"""Golden files: `golden/<case>.md` → `golden/<case>.json` (`stream_*` cases use render_streaming).

Regenerate with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/rendering/test_golden.py`, then read
every changed JSON by eye before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.rendering import SlackMessage, render_answer, render_streaming
from tests.rendering.helpers import assert_within_limits

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.md"))


def _render(case: str) -> list[SlackMessage]:
    source = (GOLDEN / f"{case}.md").read_text(encoding="utf-8")
    if case.startswith("stream_"):
        return render_streaming(source)
    return render_answer(source)


def _dump(messages: list[SlackMessage]) -> str:
    data = [{"text": m.text, "blocks": m.blocks} for m in messages]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    messages = _render(case)
    assert_within_limits(messages)
    expected_path = GOLDEN / f"{case}.json"
    actual = _dump(messages)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"missing {expected_path.name}: run with UPDATE_GOLDEN=1"
    assert json.loads(actual) == json.loads(expected_path.read_text(encoding="utf-8"))


def test_corpus_has_the_required_cases() -> None:
    required = {"headings", "emphasis_cjk", "links", "lists_code", "code_languages",
                "block_quotes", "table_cjk", "slack_tokens", "stream_open_fence"}
    assert required <= set(CASES)
