"""Validation of `tools` and `generation_config`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fakes.gemini.errors import bad_request

_TOOL_KEYS: dict[str, frozenset[str] | None] = {
    "google_search": frozenset({"type", "search_types"}),
    "url_context": frozenset({"type"}),
    "code_execution": frozenset({"type"}),
    "function": frozenset(
        {"type", "name", "description", "parameters", "short_description", "defer_loading"}
    ),
    "mcp_server": frozenset({"type", "name", "url", "headers", "allowed_tools"}),
    "file_search": frozenset({"type", "file_search_store_names", "top_k", "metadata_filter"}),
    "google_maps": frozenset({"type", "latitude", "longitude", "enable_widget"}),
    "computer_use": None,
    "retrieval": None,
    "tool_search": None,
}
_SEARCH_TYPES = frozenset({"web_search", "image_search", "enterprise_web_search"})
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")
_GEN_KEYS = frozenset(
    {
        "temperature", "top_p", "seed", "max_output_tokens", "stop_sequences", "thinking_level",
        "thinking_summaries", "tool_choice", "image_config", "speech_config",
        "transcription_config", "video_config",
    }
)
_THINKING_LEVELS = frozenset({"minimal", "low", "medium", "high", "xhigh"})
_TOOL_CHOICES = frozenset({"auto", "any", "none", "validated"})
_ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9",
                            "21:9"})
_IMAGE_SIZES = frozenset({"512", "1K", "2K", "4K"})


@dataclass
class ToolInfo:
    """What the request declared: tool types and function declarations by name."""

    types: set[str] = field(default_factory=set)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def google_search(self) -> bool:
        """Whether the model may search."""
        return "google_search" in self.types


def check_tools(tools: Any) -> ToolInfo:
    """Validate the tools list."""
    info = ToolInfo()
    if tools is None:
        return info
    if not isinstance(tools, list):
        raise bad_request("tools must be a list")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise bad_request(f"{where}.type is required")
        kind = tool["type"]
        if kind not in _TOOL_KEYS:
            raise bad_request(f"{where}.type: unknown tool type {kind!r}")
        allowed = _TOOL_KEYS[kind]
        extra = sorted(set(tool) - allowed) if allowed is not None else []
        if extra:
            raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} "
                              f"at '{where}'")
        if kind in info.types and kind not in ("function", "mcp_server"):
            raise bad_request(f"{where}: duplicate {kind} tool")
        if kind == "function":
            _check_function(tool, where, info)
        elif kind == "google_search":
            types = tool.get("search_types")
            if types is not None and (
                not isinstance(types, list) or not set(types) <= _SEARCH_TYPES
            ):
                raise bad_request(f"{where}.search_types: invalid value {types!r}")
        elif kind == "mcp_server" and not isinstance(tool.get("url"), str):
            raise bad_request(f"{where}.url is required for mcp_server tools")
        info.types.add(kind)
    return info


def _check_function(tool: dict[str, Any], where: str, info: ToolInfo) -> None:
    """A function declaration needs a valid, unique name and an object schema."""
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}.name is required for function tools")
    if not _FUNCTION_NAME.match(name):
        raise bad_request(f"{where}.name: invalid function name {name!r}")
    if name in info.functions:
        raise bad_request(f"{where}: duplicate function declaration {name!r}")
    desc = tool.get("description")
    if desc is not None and not isinstance(desc, str):
        raise bad_request(f"{where}.description must be a string")
    params = tool.get("parameters")
    if params is not None:
        if not isinstance(params, dict):
            raise bad_request(f"{where}.parameters must be a JSON schema object")
        if params.get("type", "object") != "object":
            raise bad_request(f"{where}.parameters.type must be 'object'")
        props = params.get("properties")
        if props is not None and not isinstance(props, dict):
            raise bad_request(f"{where}.parameters.properties must be an object")
    info.functions[name] = tool


def check_generation_config(cfg: Any, tools: ToolInfo) -> None:
    """Validate generation_config keys and value ranges."""
    if not isinstance(cfg, dict):
        raise bad_request("generation_config must be an object")
    extra = sorted(set(cfg) - _GEN_KEYS)
    if extra:
        raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} "
                          "at 'generation_config'")
    _number(cfg, "temperature", 0.0, 2.0)
    _number(cfg, "top_p", 0.0, 1.0)
    for key in ("seed", "max_output_tokens"):
        value = cfg.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise bad_request(f"generation_config.{key} must be an integer")
    if cfg.get("max_output_tokens") is not None and cfg["max_output_tokens"] < 1:
        raise bad_request("generation_config.max_output_tokens must be positive")
    stops = cfg.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or len(stops) > 5 or not all(isinstance(s, str) for s in stops)
    ):
        raise bad_request("generation_config.stop_sequences must be at most 5 strings")
    level = cfg.get("thinking_level")
    if level is not None and level not in _THINKING_LEVELS:
        raise bad_request(f"generation_config.thinking_level: invalid value {level!r}")
    summaries = cfg.get("thinking_summaries")
    if summaries is not None and summaries not in ("auto", "none"):
        raise bad_request(f"generation_config.thinking_summaries: invalid value {summaries!r}")
    _check_tool_choice(cfg.get("tool_choice"), tools)
    _check_image_config(cfg.get("image_config"))


def _number(cfg: dict[str, Any], key: str, low: float, high: float) -> None:
    """An optional number within [low, high]."""
    value = cfg.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise bad_request(f"generation_config.{key} must be a number in [{low}, {high}]")


def _check_tool_choice(choice: Any, tools: ToolInfo) -> None:
    """tool_choice is a mode string or {allowed_tools: {mode, tools}} naming declared tools."""
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise bad_request(f"generation_config.tool_choice: invalid value {choice!r}")
        if choice in ("any", "validated") and not tools.functions:
            raise bad_request(f"tool_choice {choice!r} requires function declarations")
        return
    allowed = choice.get("allowed_tools") if isinstance(choice, dict) else None
    if not isinstance(allowed, dict):
        raise bad_request("generation_config.tool_choice must be a mode or {allowed_tools}")
    for name in allowed.get("tools") or []:
        if name not in tools.functions:
            raise bad_request(f"tool_choice.allowed_tools names undeclared function {name!r}")


def _check_image_config(cfg: Any) -> None:
    """image_config: {aspect_ratio, image_size} with the values image models accept."""
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise bad_request("generation_config.image_config must be an object")
    extra = sorted(set(cfg) - {"aspect_ratio", "image_size"})
    if extra:
        raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} "
                          "at 'generation_config.image_config'")
    ratio, size = cfg.get("aspect_ratio"), cfg.get("image_size")
    if ratio is not None and ratio not in _ASPECT_RATIOS:
        raise bad_request(f"generation_config.image_config.aspect_ratio: invalid value {ratio!r}")
    if size is not None and size not in _IMAGE_SIZES:
        raise bad_request(f"generation_config.image_config.image_size: invalid value {size!r}")
