"""Rendering tests: the packer's last-resort cutter must never be needed."""

from __future__ import annotations

import pytest

import bot.rendering.pack as pack


@pytest.fixture(autouse=True)
def _no_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, first: int, rest: int) -> list[str]:
        raise AssertionError(f"a chunk of {len(text)} chars exceeded the budget {rest}")

    monkeypatch.setattr(pack, "hard_split", refuse)
