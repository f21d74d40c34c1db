"""Structured output: `response_format` checks, JSON-schema conformance and example answers.

The real API answers a request whose `response_format` is `{type: text, mime_type:
application/json, schema}` with a text block holding JSON valid for that schema. This fake does
the same: with no scripted reply it generates a small valid instance; a scripted reply's text
must conform (or be marked `malformed_json` to simulate a model that broke the format).
"""

from __future__ import annotations

import json
from typing import Any

from fakes.gemini.errors import bad_request

_FORMAT_TYPES = frozenset({"text", "image", "audio", "video"})
_TEXT_MIMES = frozenset({"text/plain", "application/json", "text/x.enum"})
_SCHEMA_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def check_response_format(value: Any) -> None:
    """Reject `response_format` values the API would refuse (400)."""
    if value is None:
        return
    formats = value if isinstance(value, list) else [value]
    for i, fmt in enumerate(formats):
        where = f"response_format[{i}]" if isinstance(value, list) else "response_format"
        if not isinstance(fmt, dict) or fmt.get("type") not in _FORMAT_TYPES:
            raise bad_request(f"{where}.type must be one of {sorted(_FORMAT_TYPES)}")
        if fmt["type"] != "text":
            continue
        mime = fmt.get("mime_type", "text/plain")
        if mime not in _TEXT_MIMES:
            raise bad_request(f"{where}.mime_type {mime!r} is not supported for text")
        schema = fmt.get("schema")
        if schema is not None:
            if mime != "application/json":
                raise bad_request(f"{where}.schema needs mime_type application/json")
            check_schema(schema, schema, f"{where}.schema")


def json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the answer must follow, or None for free text."""
    value = body.get("response_format")
    for fmt in value if isinstance(value, list) else [value]:
        if (isinstance(fmt, dict) and fmt.get("type") == "text"
                and fmt.get("mime_type") == "application/json"):
            return fmt.get("schema") or {}
    return None


def check_schema(node: Any, root: dict[str, Any], where: str) -> None:
    """A schema node must be an object using known types and resolvable local `$ref`s."""
    if not isinstance(node, dict):
        raise bad_request(f"{where} must be an object")
    if "$ref" in node:
        _resolve(node, root, where)
        return
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in _SCHEMA_TYPES:
            raise bad_request(f"{where}.type {k!r} is not a JSON schema type")
    for key in ("anyOf", "oneOf", "allOf"):
        for j, sub in enumerate(node.get(key) or []):
            check_schema(sub, root, f"{where}.{key}[{j}]")
    for name, sub in (node.get("properties") or {}).items():
        check_schema(sub, root, f"{where}.properties.{name}")
    if "items" in node:
        check_schema(node["items"], root, f"{where}.items")
    for name, sub in (node.get("$defs") or {}).items():
        check_schema(sub, root, f"{where}.$defs.{name}")


def _resolve(node: dict[str, Any], root: dict[str, Any], where: str = "schema") -> dict[str, Any]:
    ref = node["$ref"]
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise bad_request(f"{where}.$ref {ref!r}: only local references are supported")
    target: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(target, dict) or part not in target:
            raise bad_request(f"{where}.$ref {ref!r} does not resolve")
        target = target[part]
    return target


def violations(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None,
               path: str = "$") -> list[str]:
    """Why `value` does not conform to `schema` (empty when it does)."""
    root = root or schema
    if "$ref" in schema:
        return violations(value, _resolve(schema, root), root, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            if any(not violations(value, sub, root, path) for sub in schema[key]):
                return []
            return [f"{path}: matches none of {key}"]
    out: list[str] = []
    for sub in schema.get("allOf") or []:
        out += violations(value, sub, root, path)
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in enum")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [*out, f"{path}: expected {'/'.join(kinds)}"]
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out += [f"{path}.{n}: required" for n in schema.get("required") or [] if n not in value]
        for name, item in value.items():
            if name in props:
                out += violations(item, props[name], root, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{path}.{name}: not allowed")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += violations(item, schema["items"], root, f"{path}[{i}]")
    return out


_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "number": (int, float),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("number",) and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES.get(kind, object))


def example(schema: dict[str, Any], hint: str, root: dict[str, Any] | None = None) -> Any:
    """A small instance valid for `schema`, with strings taken from `hint` (the input text)."""
    root = root or schema
    if "$ref" in schema:
        return example(_resolve(schema, root), hint, root)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            subs = schema[key]
            non_null = [s for s in subs if s.get("type") != "null"] or subs
            return example(non_null[0], hint, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example(sub, hint, root) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items")
        return [example(items, hint, root)] if isinstance(items, dict) else []
    if kind == "string":
        return (hint.split("\n", 1)[0][:60] or "fake").strip() or "fake"
    return {"integer": 1, "number": 1.0, "boolean": True, "null": None}.get(kind)


def parse_scripted(text: str, schema: dict[str, Any]) -> list[str]:
    """Problems with a scripted JSON answer for `schema` (empty when it is valid JSON for it)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return [f"not JSON ({exc})"]
    return violations(value, schema)
