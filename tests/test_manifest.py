"""manifest.yaml passes Slack's published manifest schema and declares what the bot listens for.

The schema (slackapi/manifest-schema, MIT) is copied into tests/data/ because the network is
closed; Slack's "Create app from manifest" rejects what it rejects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yaml").read_text())


def test_manifest_matches_slacks_schema() -> None:
    schema = json.loads((ROOT / "tests/data/slack-manifest.schema.1.0.0.json").read_text())
    errors = [f"{list(e.path)}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(load_manifest())]
    assert errors == []


def test_manifest_declares_the_command_shortcut_and_scopes_the_bot_uses() -> None:
    manifest = load_manifest()
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/gemini" and command["should_escape"] is False
    shortcuts = {s["callback_id"] for s in manifest["features"].get("shortcuts", [])}
    assert shortcuts, "the 'Run as agent task' message shortcut is declared"
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "channels:join", "chat:write", "users:read"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.channels", "message.im"} <= events
