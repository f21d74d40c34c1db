"""Validation of POST /interactions bodies, mirroring what the real API rejects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fakes.gemini.errors import bad_request
from fakes.gemini.media import CONTENT_TYPES, check_block
from fakes.gemini.steps import STEP_TYPES, check_step
from fakes.gemini.structured import check_response_format
from fakes.gemini.tools import ToolInfo, check_generation_config, check_tools

COMMON_FIELDS = frozenset(
    {
        "input", "previous_interaction_id", "stream", "background", "store",
        "system_instruction", "tools", "response_format", "response_mime_type",
        "response_modalities", "environment", "webhook_config", "continuation_token",
        "safety_settings", "labels", "service_tier",
    }
)
MODEL_FIELDS = COMMON_FIELDS | {"model", "generation_config", "cached_content"}
AGENT_FIELDS = COMMON_FIELDS | {"agent", "agent_config"}
_SERVICE_TIERS = frozenset({"flex", "standard", "priority", "deferred"})
_MODALITIES = frozenset({"text", "image", "audio", "video", "document"})
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


@dataclass
class CreateRequest:
    """A validated create body with its input normalised to steps."""

    body: dict[str, Any]
    model: str | None
    agent: str | None
    steps: list[dict[str, Any]]
    tools: ToolInfo
    stream: bool = False
    background: bool = False
    store: bool = True
    previous_interaction_id: str | None = None
    continuation_token: str | None = None
    system_instruction: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """The model or agent name."""
        return self.model or self.agent or ""


def parse_create(body: Any, *, sniff: bool = True) -> CreateRequest:
    """Validate a create body; raise ApiError(400) for anything the API would refuse."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    model, agent = body.get("model"), body.get("agent")
    if (model is None) == (agent is None):
        raise bad_request("Exactly one of 'model' or 'agent' must be set")
    allowed = MODEL_FIELDS if model is not None else AGENT_FIELDS
    extra = sorted(set(body) - allowed)
    if extra:
        who = "model" if model is not None else "agent"
        raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} "
                          f"(not allowed for {who} interactions)")
    name = model if model is not None else agent
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise bad_request(f"Invalid {'model' if model is not None else 'agent'} name {name!r}")
    flags = {key: _bool(body, key) for key in ("stream", "background", "store")}
    store = flags["store"] if flags["store"] is not None else True
    if flags["background"] and not store:
        raise bad_request("background=true requires store=true")
    prev = _opt_str(body, "previous_interaction_id")
    token = _opt_str(body, "continuation_token")
    system = _opt_str(body, "system_instruction")
    if "input" not in body:
        if token is None:
            raise bad_request("'input' is required")
        steps: list[dict[str, Any]] = []
    else:
        steps = normalise_input(body["input"], sniff=sniff)
    tools = check_tools(body.get("tools"))
    if "generation_config" in body:
        check_generation_config(body["generation_config"], tools)
    _check_misc(body)
    return CreateRequest(
        body=body, model=model, agent=agent, steps=steps, tools=tools,
        stream=bool(flags["stream"]), background=bool(flags["background"]), store=store,
        previous_interaction_id=prev, continuation_token=token, system_instruction=system,
    )


def normalise_input(value: Any, *, sniff: bool = True) -> list[dict[str, Any]]:
    """Validate `input` and return it as a list of steps."""
    if isinstance(value, str):
        if not value.strip():
            raise bad_request("input must not be empty")
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    if isinstance(value, dict):
        check_block(value, "input", user=True, sniff=sniff)
        return [{"type": "user_input", "content": [value]}]
    if not isinstance(value, list):
        raise bad_request("input must be a string, a content object or a list")
    if not value:
        raise bad_request("input must not be empty")
    kinds = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise bad_request(f"input[{i}].type is required")
        kinds.append(item["type"])
    if all(kind in CONTENT_TYPES for kind in kinds):
        for i, block in enumerate(value):
            check_block(block, f"input[{i}]", user=True, sniff=sniff)
        return [{"type": "user_input", "content": list(value)}]
    if all(kind in STEP_TYPES for kind in kinds):
        for i, step in enumerate(value):
            check_step(step, f"input[{i}]", sniff=sniff)
        return list(value)
    bad = next((k for k in kinds if k not in CONTENT_TYPES and k not in STEP_TYPES), None)
    if bad:
        raise bad_request(f"input: unknown content or step type {bad!r}")
    raise bad_request("input must not mix content blocks and steps")


def _bool(body: dict[str, Any], key: str) -> bool | None:
    """An optional boolean field."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"Invalid value at '{key}' (TYPE_BOOL): {value!r}")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    """An optional non-empty string field."""
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise bad_request(f"Invalid value at '{key}' (TYPE_STRING): {value!r}")
    return value


def _check_misc(body: dict[str, Any]) -> None:
    """Shape checks for the remaining top-level fields."""
    tier = body.get("service_tier")
    if tier is not None and tier not in _SERVICE_TIERS:
        raise bad_request(f"Invalid value at 'service_tier': {tier!r}")
    modalities = body.get("response_modalities")
    if modalities is not None:
        if not isinstance(modalities, list) or not all(
            isinstance(m, str) and m.lower() in _MODALITIES for m in modalities
        ):
            raise bad_request(f"Invalid value at 'response_modalities': {modalities!r}")
    labels = body.get("labels")
    if labels is not None and not (
        isinstance(labels, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise bad_request("labels must be a map of string to string")
    for key in ("response_format", "agent_config", "webhook_config"):
        value = body.get(key)
        if value is not None and not isinstance(value, dict | list):
            raise bad_request(f"Invalid value at '{key}': expected an object")
    check_response_format(body.get("response_format"))
    env = body.get("environment")
    if env is not None and not isinstance(env, str | dict):
        raise bad_request("environment must be a string or an object")
    if isinstance(body.get("safety_settings"), dict):
        raise bad_request("safety_settings must be a list")

