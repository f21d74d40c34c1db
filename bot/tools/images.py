"""The `generate_image` tool: make or edit an image with Gemini's image model, post it in Slack."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import aiohttp
from google.genai import _interactions as gx
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.gemini import describe_api_error
from bot.logs import get_logger
from bot.threads.files import DownloadError, FileInputs, FileLimits, fetch_file, sniff
from bot.tools.registry import Tool, ToolContext, ToolError

log = get_logger("images")

LAST_IMAGE = "last_image"
"""ThreadState.extra key: {file_id, mime_type, source} of the thread's most recent image."""
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
TITLE_LIMIT = 250
ALT_TEXT_LIMIT = 1000
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

DECLARATION: dict[str, Any] = {
    "type": "function",
    "name": "generate_image",
    "description": (
        "Create an image and post it in the current Slack thread. Use it whenever someone asks "
        "you to draw, generate, design or change a picture. To change the thread's most recent "
        "image (the last one you made, or the last one someone shared), set edit_last_image "
        "and describe the change in the prompt. After it succeeds, answer in one short "
        "sentence; the image is already visible in the thread."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "prompt": {
                "type": "string",
                "description": "A detailed description of the image to create, or of the change "
                               "to make to the last image.",
            },
            "aspect_ratio": {
                "type": "string",
                "enum": list(ASPECT_RATIOS),
                "description": "Width:height of the image; 1:1 when not given.",
            },
            "edit_last_image": {
                "type": "boolean",
                "description": "True to change the thread's most recent image instead of "
                               "starting from scratch (e.g. 'now make it blue').",
            },
        },
        "required": ["prompt"],
    },
}


def image_tool(settings: Settings) -> Tool | None:
    """The generate_image tool, unless image generation is switched off."""
    if not settings.gemini_image_model:
        return None
    return Tool(declaration=DECLARATION, handler=generate_image,
                progress="Generating an image…", title="Image generation")


def remember_shared_image(ctx: ToolContext, files: FileInputs) -> None:
    """An image a person attaches becomes the thread's latest image (what an edit starts from)."""
    if files.last_image is not None:
        ctx.updates[LAST_IMAGE] = {**files.last_image, "source": "shared"}


async def generate_image(args: dict[str, Any], ctx: ToolContext) -> str:
    """Handle a generate_image call: render the image, upload it into the thread, remember it."""
    prompt = args.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ToolError("the request had no description of the image")
    prompt = prompt.strip()
    aspect = args.get("aspect_ratio")
    if aspect is not None and aspect not in ASPECT_RATIOS:
        log.debug("aspect_ratio_ignored", aspect_ratio=str(aspect)[:20])
        aspect = None
    source = await previous_image(ctx) if args.get("edit_last_image") is True else None
    data, mime, remark = await render(ctx, prompt, aspect, source)
    file = await upload(ctx, data, mime, prompt)
    ctx.updates[LAST_IMAGE] = {"file_id": str(file["id"]), "mime_type": mime,
                               "source": "generated"}
    log.info("image_posted", channel=ctx.channel, file=file.get("id"), bytes=len(data),
             edit=source is not None)
    result = f"Done: the image is posted in the Slack thread as {file.get('name') or 'an image'}."
    if remark:
        result += f" The image model added: {remark}"
    return result


async def previous_image(ctx: ToolContext) -> tuple[bytes, str]:
    """The thread's most recent image (generated or shared), fetched again from Slack."""
    last = ctx.recall(LAST_IMAGE)
    if not isinstance(last, dict) or not last.get("file_id"):
        raise ToolError("there is no earlier image in this thread to change")
    limit = FileLimits.from_settings(ctx.services.settings).max_file_bytes
    try:
        raw = await fetch_file(ctx.services, {"id": last["file_id"]}, limit)
    except DownloadError as exc:
        raise ToolError(f"the earlier image is no longer available ({exc})") from None
    mime = sniff(raw) or str(last.get("mime_type") or "")
    if not mime.startswith("image/"):
        raise ToolError("the earlier image could not be read")
    return raw, mime


async def render(ctx: ToolContext, prompt: str, aspect: str | None,
                 source: tuple[bytes, str] | None) -> tuple[bytes, str, str]:
    """One non-streamed interaction with the image model: (image bytes, mime type, its text)."""
    settings = ctx.services.settings
    content: list[dict[str, Any]] = []
    if source is not None:
        raw, mime = source
        content.append({"type": "image", "data": base64.b64encode(raw).decode("ascii"),
                        "mime_type": mime})
    content.append({"type": "text", "text": prompt})
    body: dict[str, Any] = {
        "model": settings.gemini_image_model,
        "input": content,
        "response_modalities": ["text", "image"],
        "store": False,
    }
    if aspect:
        body["generation_config"] = {"image_config": {"aspect_ratio": aspect}}
    try:
        interaction = await ctx.services.gemini.aio.interactions.create(**body)
    except gx.APIError as exc:
        err = describe_api_error(exc)
        log.warning("image_model_failed", status=err.status, code=err.code)
        raise ToolError(err.user_message) from None
    remark = (interaction.output_text or "").strip()
    image = interaction.output_image
    if image is None or not image.data:
        log.info("image_model_returned_no_image", status=interaction.status)
        said = f" and said: “{remark[:300]}”" if remark else ""
        raise ToolError(f"the image model returned no image{said}")
    try:
        data = base64.b64decode(image.data, validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("the image model returned an unreadable image") from None
    return data, sniff(data) or str(image.mime_type or "image/png"), remark[:500]


async def upload(ctx: ToolContext, data: bytes, mime: str, prompt: str) -> dict[str, Any]:
    """Post the image into the thread (files_upload_v2), titled and alt-texted with the prompt."""
    filename = f"{_slug(prompt)}.{_EXTENSIONS.get(mime, 'png')}"
    try:
        resp = await ctx.services.slack.files_upload_v2(
            channel=ctx.channel, thread_ts=ctx.thread_ts, file=data, filename=filename,
            title=_clip(prompt, TITLE_LIMIT), alt_txt=_clip(prompt, ALT_TEXT_LIMIT),
        )
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        log.warning("image_upload_failed", error=error)
        raise ToolError(f"Slack refused the upload ({error or 'unknown error'})") from None
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("image_upload_failed", error=type(exc).__name__)
        raise ToolError("the upload to Slack failed") from None
    file = resp.get("file") or (resp.get("files") or [{}])[0]
    if not file.get("id"):
        raise ToolError("Slack did not confirm the upload")
    return dict(file)


def _slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:6]
    return "-".join(["gemini", *words])[:60].rstrip("-")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
