"""Content-block validation: types, mime types, strict base64 and magic bytes."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fakes.gemini.errors import bad_request

IMAGE_MIMES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "image/gif",
     "image/bmp", "image/tiff"}
)
DOCUMENT_MIMES = frozenset(
    {
        "application/pdf", "text/plain", "text/csv", "text/html", "text/markdown", "text/md",
        "text/xml", "text/rtf", "text/css", "text/javascript", "application/x-javascript",
        "text/x-python", "application/x-python",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)
MEDIA_TYPES = ("image", "audio", "video", "document")
CONTENT_TYPES = frozenset({"text", *MEDIA_TYPES})
_MEDIA_KEYS: dict[str, frozenset[str]] = {
    "image": frozenset({"type", "data", "uri", "mime_type", "resolution"}),
    "audio": frozenset(
        {"type", "data", "uri", "mime_type", "sample_rate", "channels", "processing"}
    ),
    "video": frozenset({"type", "data", "uri", "mime_type", "resolution", "processing", "name"}),
    "document": frozenset({"type", "data", "uri", "mime_type", "resolution", "processing"}),
}
_TEXT_KEYS = frozenset({"type", "text", "annotations"})
_RESOLUTIONS = frozenset({"low", "medium", "high", "ultra_high"})
_ANNOTATION_TYPES = frozenset(
    {"url_citation", "file_citation", "place_citation", "speech_metadata", "word_info"}
)
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
MAX_INLINE_BYTES = 20 * 1024 * 1024


def mime_allowed(kind: str, mime: str) -> bool:
    """Whether a mime type is accepted for a content block type."""
    if kind == "image":
        return mime in IMAGE_MIMES
    if kind == "document":
        return mime in DOCUMENT_MIMES
    return mime.startswith(f"{kind}/") and len(mime) > len(kind) + 1


def decode_base64(data: str, where: str) -> bytes:
    """Strictly decode base64 (standard alphabet, padded), as the API's JSON parser does."""
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise bad_request(
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed: {exc}"
        ) from exc
    if not raw:
        raise bad_request(f"{where}.data must not be empty")
    return raw


def looks_like(mime: str, raw: bytes) -> bool:
    """Check magic bytes for the formats whose signature is unambiguous."""
    if mime == "image/webp":
        return raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"
    signatures = _MAGIC.get(mime)
    return signatures is None or raw.startswith(signatures)


def check_block(block: Any, where: str, *, user: bool, sniff: bool = True) -> None:
    """Validate one content block; `user` blocks must not have empty text."""
    if not isinstance(block, dict):
        raise bad_request(f"{where} must be an object")
    kind = block.get("type")
    if not isinstance(kind, str) or not kind:
        raise bad_request(f"{where}.type is required")
    if kind not in CONTENT_TYPES:
        raise bad_request(f"{where}.type: unknown content type {kind!r}")
    if kind == "text":
        _check_text(block, where, user=user)
    else:
        _check_media(block, kind, where, sniff=sniff)


def _check_text(block: dict[str, Any], where: str, *, user: bool) -> None:
    """Validate a text block."""
    _no_unknown(block, _TEXT_KEYS, where)
    text = block.get("text")
    if not isinstance(text, str):
        raise bad_request(f"{where}.text is required and must be a string")
    if user and not text.strip():
        raise bad_request(f"{where}.text must not be empty")
    annotations = block.get("annotations")
    if annotations is None:
        return
    if not isinstance(annotations, list):
        raise bad_request(f"{where}.annotations must be a list")
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict) or ann.get("type") not in _ANNOTATION_TYPES:
            raise bad_request(f"{where}.annotations[{i}] has an unknown type")


def _check_media(block: dict[str, Any], kind: str, where: str, *, sniff: bool) -> None:
    """Validate an image/audio/video/document block."""
    _no_unknown(block, _MEDIA_KEYS[kind], where)
    mime = block.get("mime_type")
    if not isinstance(mime, str) or not mime:
        raise bad_request(f"{where}.mime_type is required for {kind} content")
    if not mime_allowed(kind, mime):
        raise bad_request(f"{where}.mime_type: unsupported {kind} mime type {mime!r}")
    has_data, has_uri = "data" in block, "uri" in block
    if has_data == has_uri:
        raise bad_request(f"{where}: exactly one of 'data' or 'uri' must be set")
    if has_uri:
        uri = block["uri"]
        if not isinstance(uri, str) or not uri.strip():
            raise bad_request(f"{where}.uri must be a non-empty string")
    else:
        data = block["data"]
        if not isinstance(data, str):
            raise bad_request(f"{where}.data must be a base64 string")
        raw = decode_base64(data, where)
        if sniff and not looks_like(mime, raw):
            raise bad_request(f"Unable to process input {kind}: {where}.data is not {mime}")
    resolution = block.get("resolution")
    if resolution is not None and resolution not in _RESOLUTIONS:
        raise bad_request(f"{where}.resolution: unknown value {resolution!r}")


def _no_unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    """Reject unknown fields the way a proto JSON parser does."""
    extra = sorted(set(obj) - allowed)
    if extra:
        raise bad_request(f"Invalid JSON payload received. Unknown name {extra[0]!r} at '{where}'")
