"""Configuration: clear messages for missing or malformed settings, exit code 2, no secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "GEMINI_", "REDIS_", "GOOGLE_"))}


def test_missing_settings_name_each_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("SLACK_", "GEMINI_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT / "tests")  # no .env here
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "SLACK_BOT_TOKEN is missing" in text
    assert "GEMINI_API_KEY is missing" in text
    assert "SLACK_SIGNING_SECRET" in text


def test_malformed_values_are_explained_without_echoing_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "tests")
    with pytest.raises(ConfigError) as err:
        load_settings(slack_bot_token="xoxp-user-token-secret", gemini_api_key="k",
                      slack_signing_secret="s", redis_url="http://nope", port=99999)
    text = str(err.value)
    assert "SLACK_BOT_TOKEN must start with xoxb-" in text
    assert "REDIS_URL must start with redis://" in text
    assert "PORT" in text
    assert "xoxp-user-token-secret" not in text


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                             gemini_api_key="k")
    assert settings.socket_mode


def test_running_with_incomplete_credentials_exits_2_with_a_message(tmp_path: Path) -> None:
    # With no Slack setting at all `python -m bot` opens the playground (tests/playground).
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=CLEAN_ENV | {
        "PYTHONPATH": str(ROOT), "SLACK_SIGNING_SECRET": "s"}, capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_redis_exits_2_without_the_password(tmp_path: Path) -> None:
    env = CLEAN_ENV | {"PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-1",
                       "SLACK_SIGNING_SECRET": "s", "GEMINI_API_KEY": "k",
                       "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0", "PORT": "39999"}
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr
    assert "hunter2" not in proc.stderr
