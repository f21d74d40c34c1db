"""Reading Web API arguments the way Slack does (strings, "1"/"0" booleans, JSON fields)."""

from __future__ import annotations

import json
from typing import Any

from .models import SlackError

JSON_FIELDS = (
    "blocks",
    "attachments",
    "metadata",
    "files",
    "prompts",
    "chunks",
    "view",
    "loading_messages",
)
JSON_FIELD_ERRORS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
}


def parse_json_fields(args: dict[str, Any]) -> str | None:
    """Decode JSON-string fields in place; return the error code of the first bad one."""
    for name in JSON_FIELDS:
        value = args.get(name)
        if not isinstance(value, str):
            continue
        if name == "loading_messages" and not value.lstrip().startswith("["):
            args[name] = [part for part in value.split(",") if part]
            continue
        try:
            args[name] = json.loads(value)
        except ValueError:
            return JSON_FIELD_ERRORS.get(name, "invalid_arguments")
    return None


def as_bool(value: Any) -> bool:
    """Slack's boolean reading: true/1 are true, false/0/empty are false."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def as_int(value: Any, name: str) -> int:
    """An integer argument, or invalid_arguments."""
    try:
        return int(str(value))
    except ValueError:
        msg = f"[ERROR] {name} must be an integer"
        raise SlackError("invalid_arguments", messages=[msg]) from None


def required(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
    """A required non-empty string argument, or the given error."""
    value = args.get(name)
    if value is None or value == "":
        raise SlackError(error, messages=[f"[ERROR] missing required field: {name}"])
    return str(value)


def text_arg(args: dict[str, Any], name: str) -> str | None:
    """An optional string argument (non-strings are stringified)."""
    value = args.get(name)
    return None if value is None else str(value)
