"""Files attached to a Slack message, read into Gemini content blocks (or skipped, saying why)."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import IncomingMessage

log = get_logger("files")

MB = 1024 * 1024
TEXT_CHAR_LIMIT = 400_000
"""Characters of one text file the model gets (about 100k tokens); the rest is cut."""
CHUNK = 64 * 1024

IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif",
                         "image/gif", "image/bmp", "image/tiff"})
DOCUMENT_MIMES = frozenset({
    "application/pdf", "application/rtf", "text/rtf",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
})
AUDIO_MIMES = frozenset({"audio/wav", "audio/mp3", "audio/mpeg", "audio/aiff", "audio/aac",
                         "audio/ogg", "audio/flac", "audio/mp4", "audio/m4a", "audio/webm",
                         "audio/opus"})
VIDEO_MIMES = frozenset({"video/mp4", "video/mpeg", "video/mov", "video/avi", "video/x-flv",
                         "video/mpg", "video/webm", "video/wmv", "video/3gpp"})
TEXT_MIMES = frozenset({"application/json", "application/xml", "application/x-yaml",
                        "application/yaml", "application/javascript", "application/x-javascript",
                        "application/typescript", "application/x-sh", "application/sql",
                        "application/x-python", "application/toml", "application/x-ndjson"})
TEXT_FILETYPES = frozenset({
    "text", "post", "markdown", "csv", "tsv", "json", "yaml", "xml", "html", "css", "sql",
    "python", "javascript", "typescript", "java", "kotlin", "go", "rust", "ruby", "php", "perl",
    "c", "cpp", "csharp", "objc", "swift", "scala", "shell", "powershell", "dockerfile", "diff",
    "r", "lua", "haskell", "erlang", "elixir", "clojure", "dart", "groovy", "matlab", "latex",
    "toml", "ini", "vb", "vbscript", "fsharp", "ocaml", "lisp", "scheme", "verilog", "apex",
})
ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/x-aiff": "audio/aiff", "audio/x-flac": "audio/flac", "audio/x-aac": "audio/aac",
    "audio/x-m4a": "audio/m4a", "audio/mpeg3": "audio/mp3", "audio/x-mpeg-3": "audio/mp3",
    "video/quicktime": "video/mov", "video/x-msvideo": "video/avi", "video/x-ms-wmv": "video/wmv",
    "video/mpg": "video/mpeg",
}
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"),
)
SIGNED_MIMES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
"""Formats whose bytes must start with their signature (Gemini rejects a mislabelled file)."""
_HTML_STARTS = (b"<!doctype html", b"<html")
SIGN_IN_PAGE = ("Slack sent its sign-in page instead of the file "
                "(the app may lack the files:read scope)")
"""Slack answers a file request it won't authorise with an HTML sign-in page, status 200."""


class DownloadError(Exception):
    """A file could not be fetched from Slack; the message says why, in user terms."""


@dataclass(frozen=True, slots=True)
class FileLimits:
    """How much of a message's files the bot reads."""

    max_file_bytes: int
    max_turn_bytes: int
    max_files: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLimits:
        """The limits configured for this process."""
        return cls(max_file_bytes=int(settings.max_file_mb * MB),
                   max_turn_bytes=int(settings.max_turn_files_mb * MB),
                   max_files=settings.max_files_per_turn,
                   timeout_s=settings.file_download_timeout_s)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file the model does not get, and why."""

    name: str
    reason: str

    def note(self) -> str:
        """One line for the answer."""
        return f"I couldn't read {self.name}: {self.reason}."


@dataclass(slots=True)
class FileInputs:
    """What a message's files became: content blocks for the model, plus the skipped ones."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    """Names of the files that became blocks."""
    last_image: dict[str, str] | None = None
    """{file_id, mime_type} of the last image read, for edits ("make it blue")."""

    @property
    def notes(self) -> list[str]:
        """User-facing notes about skipped files."""
        return [s.note() for s in self.skipped]

    def rejected(self) -> FileInputs:
        """The same files with every read one skipped, for when Gemini refuses the request."""
        refused = [Skipped(name, "Gemini could not process it") for name in self.read]
        return FileInputs(skipped=[*self.skipped, *refused])

    def model_note(self) -> str | None:
        """Tells the model which attachments it did not get (so it doesn't guess their content)."""
        if not self.skipped:
            return None
        lines = "\n".join(f"- {s.name}: {s.reason}" for s in self.skipped)
        return f"(These attached files could not be read and are not included:\n{lines})"


def classify(file: dict[str, Any]) -> tuple[str, str] | None:
    """(block type, mime type) for a Slack file object; None when Gemini can't take it."""
    mime = str(file.get("mimetype") or "").split(";")[0].strip().lower()
    mime = ALIASES.get(mime, mime)
    filetype = str(file.get("filetype") or "").lower()
    if file.get("subtype") == "slack_audio" and mime.startswith("video/"):
        mime = "audio/" + mime.removeprefix("video/")  # voice clips are labelled video/*
    if mime in IMAGE_MIMES:
        return "image", mime
    if mime in DOCUMENT_MIMES:
        return "document", mime
    if mime in AUDIO_MIMES:
        return "audio", mime
    if mime in VIDEO_MIMES:
        return "video", mime
    if mime.startswith("text/") or mime in TEXT_MIMES or filetype in TEXT_FILETYPES:
        return "text", mime or "text/plain"
    return None


def describe_size(n: float) -> str:
    """Bytes as a short human size."""
    if n >= MB:
        return f"{n / MB:.1f} MB".replace(".0 MB", " MB")
    return f"{max(1, round(n / 1024))} KB"


def token_allowed(url: str, settings: Settings) -> bool:
    """Only Slack's own hosts (or the configured API host) ever see the bot token."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    api_host = (urlsplit(settings.slack_api_url).hostname or "").lower()
    if host and host == api_host:
        # Plain http only for a local API (the test fakes); never send the token in clear text.
        return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))
    return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def download(url: str, token: str, *, max_bytes: int, timeout_s: float,
                   expect_html: bool = False) -> bytes:
    """GET a url_private with the bot token, streamed; DownloadError past `max_bytes`."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, headers=headers) as resp:
            if resp.status != 200:
                raise DownloadError(f"Slack answered HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise _TooLarge(resp.content_length)
            if resp.content_type == "text/html" and not expect_html:
                raise DownloadError(SIGN_IN_PAGE)
            data = bytearray()
            async for chunk in resp.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise _TooLarge(len(data))
    except TimeoutError:
        raise DownloadError(f"the download took longer than {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise DownloadError(f"the download failed ({type(exc).__name__})") from None
    if not expect_html and bytes(data[:64]).lstrip().lower().startswith(_HTML_STARTS):
        raise DownloadError(SIGN_IN_PAGE)
    return bytes(data)


class _TooLarge(DownloadError):
    """The body outgrew the limit while reading."""

    def __init__(self, seen: int) -> None:
        super().__init__(f"it is larger than allowed ({describe_size(seen)} so far)")
        self.seen = seen


async def fetch_file(services: Services, file: dict[str, Any], max_bytes: int) -> bytes:
    """The bytes of a Slack file (looking it up with files.info when the event lacks its URL)."""
    url = file.get("url_private_download") or file.get("url_private")
    if not url and file.get("id"):
        try:
            resp = await services.slack.files_info(file=str(file["id"]))
        except SlackApiError as exc:
            raise DownloadError(f"Slack would not share it ({exc.response.get('error')})") from None
        info = resp.get("file") or {}
        url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise DownloadError("Slack gave no download link for it")
    if not token_allowed(str(url), services.settings):
        raise DownloadError("its download link is not on Slack")
    settings = services.settings
    return await download(str(url), settings.slack_bot_token.get_secret_value(),
                          max_bytes=max_bytes, timeout_s=settings.file_download_timeout_s,
                          expect_html=file.get("mimetype") == "text/html")


async def read_files(services: Services, msg: IncomingMessage) -> FileInputs:
    """Download this message's files and turn them into content blocks (each file once)."""
    limits = FileLimits.from_settings(services.settings)
    out = FileInputs()
    used = 0
    for index, file in enumerate(msg.files):
        blocks: list[dict[str, Any]] = []
        size = 0
        if index >= limits.max_files:
            reason: str | None = f"only the first {limits.max_files} files of a message are read"
        else:
            file, reason = await _complete(services, file)
            if reason is None:
                blocks, size, reason = await _file_blocks(services, file, limits, used)
        name = display_name(file)
        if reason is not None:
            log.info("file_skipped", channel=msg.channel_id, file=file.get("id"), reason=reason)
            out.skipped.append(Skipped(name, reason))
            continue
        used += size
        out.blocks.extend(blocks)
        out.read.append(name)
        if blocks[-1]["type"] == "image" and file.get("id"):
            out.last_image = {"file_id": str(file["id"]), "mime_type": blocks[-1]["mime_type"]}
    if msg.files:
        log.info("files_read", channel=msg.channel_id, read=len(out.read),
                 skipped=len(out.skipped), bytes=used)
    return out


def display_name(file: dict[str, Any]) -> str:
    """How notes name a file."""
    return str(file.get("name") or file.get("title") or file.get("id") or "a file")


async def _complete(services: Services, file: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The full file object: events may carry only an id (e.g. `file_access: check_file_info`)."""
    partial = file.get("file_access") == "check_file_info" or not file.get("mimetype")
    if not partial or not file.get("id") or _unavailable(file) is not None:
        return file, None
    try:
        resp = await services.slack.files_info(file=str(file["id"]))
    except SlackApiError as exc:
        return file, f"Slack would not share it ({exc.response.get('error')})"
    info = resp.get("file")
    return ({**file, **info}, None) if isinstance(info, dict) else (file, "Slack had no details")


async def _file_blocks(services: Services, file: dict[str, Any], limits: FileLimits,
                       used: int) -> tuple[list[dict[str, Any]], int, str | None]:
    """One file as (content blocks, bytes read, None), or ([], 0, why it was skipped)."""
    reason = _unavailable(file)
    kind_mime = classify(file)
    if reason is None and kind_mime is None:
        shown = file.get("pretty_type") or file.get("mimetype") or "unknown"
        reason = f"its type ({shown}) isn't supported"
    if reason is not None or kind_mime is None:
        return [], 0, reason
    raw, reason = await _download_within(services, file, limits, used)
    if reason is not None:
        return [], 0, reason
    blocks, reason = to_blocks(display_name(file), *kind_mime, raw)
    return blocks, len(raw), reason


def _unavailable(file: dict[str, Any]) -> str | None:
    """Why Slack can't hand out this file at all (deleted, hidden, external), if it can't."""
    mode = file.get("mode")
    if mode == "tombstone":
        return "it was deleted"
    if mode == "hidden_by_limit":
        return "Slack hides it (the workspace's file history limit)"
    if file.get("is_external") or mode == "external":
        return "it is a link to an external file, not a file stored in Slack"
    return None


async def _download_within(services: Services, file: dict[str, Any], limits: FileLimits,
                           used: int) -> tuple[bytes, str | None]:
    """Download one file within the per-file and per-message budgets: (bytes, why not)."""
    left = limits.max_turn_bytes - used
    size = file.get("size")
    if isinstance(size, int) and size > limits.max_file_bytes:
        return b"", _too_large(describe_size(size), limits)
    if isinstance(size, int) and size > left:
        return b"", _turn_full(limits)
    cap = min(limits.max_file_bytes, left)
    try:
        return await fetch_file(services, file, cap), None
    except _TooLarge as exc:
        if cap < limits.max_file_bytes and exc.seen <= limits.max_file_bytes:
            return b"", _turn_full(limits)
        return b"", _too_large(None, limits)
    except DownloadError as exc:
        log.warning("file_download_failed", file=file.get("id"), reason=str(exc))
        return b"", str(exc)


def _too_large(size: str | None, limits: FileLimits) -> str:
    shown = f"{size}, over" if size else "over"
    return f"it is {shown} the {describe_size(limits.max_file_bytes)} limit per file"


def _turn_full(limits: FileLimits) -> str:
    return (f"the message's files together are over the {describe_size(limits.max_turn_bytes)} "
            "limit per message")


def to_blocks(name: str, kind: str, mime: str,
              raw: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """Content blocks for one downloaded file, or (no blocks, why not)."""
    if kind == "text":
        return _text_block(name, raw)
    if not raw:
        return [], "it is empty"
    sniffed = sniff(raw)
    if kind == "image" and sniffed is not None and sniffed.startswith("image/"):
        mime = sniffed  # trust the bytes over the label (a .jpg that is really a PNG)
    elif sniffed != mime and (sniffed is not None or mime in SIGNED_MIMES):
        return [], f"its contents don't look like a {mime} file"
    label = {"type": "text", "text": f"[Attached file: {name}]"}
    data = base64.b64encode(raw).decode("ascii")
    return [label, {"type": kind, "data": data, "mime_type": mime}], None


def sniff(raw: bytes) -> str | None:
    """The mime type of formats with an unambiguous signature, else None."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for sig, mime in _SIGNATURES if raw.startswith(sig)), None)


def _text_block(name: str, raw: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """A text/code file as one text block naming the file."""
    if b"\x00" in raw[:8192]:
        return [], "it looks like a binary file, not text"
    text = raw.decode("utf-8-sig", errors="replace")
    cut = ""
    if len(text) > TEXT_CHAR_LIMIT:
        text = text[:TEXT_CHAR_LIMIT]
        cut = f"\n(Only the first {TEXT_CHAR_LIMIT:,} characters of this file are included.)"
    fence = "````" if "```" in text else "```"
    body = f"Attached file {name}:\n{fence}\n{text}\n{fence}{cut}"
    return [{"type": "text", "text": body}], None
