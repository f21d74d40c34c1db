"""Posting a finished run's result into its thread exactly once, across crashes and replicas.

The result is rendered deterministically into parts (Slack messages), then each part is posted
in order: the record first marks the part `sending` (fenced), the message carries metadata
naming the run and part, and its ts is recorded right after. A process that resumes the run
after a crash finds a part marked `sending` and looks for that metadata in the thread before
posting, so it edits (adopts) what was already posted instead of posting it again. Images are
uploaded the same way, found again by their file name.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.agents.card import permalink, show_card
from bot.agents.outcome import RunOutput, result_markdown
from bot.agents.record import SENDING, Fence
from bot.logs import get_logger
from bot.rendering import render_answer
from bot.services import Services

log = get_logger("agents.posting")

RESULT_EVENT = "gemini_agent_result"
"""Slack message metadata event_type on every part of a run's result."""
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def image_name(run_id: str, index: int, mime: str) -> str:
    """The file name of a run's image (how a retry finds an upload that went through)."""
    return f"agent-{run_id}-{index + 1}.{_EXT.get(mime, 'png')}"


async def post_result(services: Services, fence: Fence, record: dict[str, Any],
                      output: RunOutput | None) -> dict[str, Any]:
    """Post every part not posted yet, upload the images, then show Done on the card."""
    messages = render_answer(result_markdown(record, output))
    parts: list[Any] = list(record.get("parts") or [])
    parts += [None] * (len(messages) - len(parts))
    for index, message in enumerate(messages):
        if parts[index] not in (None, SENDING):
            continue
        ts = None
        if parts[index] == SENDING:
            ts = await _find_part(services, record, index)
            if ts is not None:
                log.info("result_part_adopted", run=record["run_id"], part=index)
        if ts is None:
            parts[index] = SENDING
            record = await fence.write({"parts": parts})
            resp = await services.slack.chat_postMessage(
                channel=record["channel"], thread_ts=record["result_thread"],
                text=message.text, blocks=message.blocks,
                metadata={"event_type": RESULT_EVENT,
                          "event_payload": {"run_id": record["run_id"], "part": index}},
            )
            ts = str(resp["ts"])
        parts[index] = ts
        record = await fence.write({"parts": parts, "result_ts": parts[0]})
    if output is not None and output.images:
        record = await _post_images(services, fence, record, output)
    link = await permalink(services, record["channel"], record.get("result_ts"))
    await show_card(services, record, result_link=link)
    log.info("result_posted", run=record["run_id"], status=record["status"], parts=len(parts))
    return await fence.write({"phase": "posted"})


async def _post_images(services: Services, fence: Fence, record: dict[str, Any],
                       output: RunOutput) -> dict[str, Any]:
    done: list[Any] = list(record.get("images") or [])
    done += [None] * (len(output.images) - len(done))
    for index, (data, mime) in enumerate(output.images):
        name = image_name(record["run_id"], index, mime)
        if done[index] not in (None, SENDING):
            continue
        file_id = await _find_image(services, record, name) if done[index] == SENDING else None
        if file_id is None:
            done[index] = SENDING
            record = await fence.write({"images": done})
            try:
                resp = await services.slack.files_upload_v2(
                    channel=record["channel"], thread_ts=record["result_thread"], file=data,
                    filename=name, title=f"Image {index + 1} from the {record['kind']} run")
            except SlackApiError as exc:
                log.warning("result_image_failed", run=record["run_id"],
                            error=exc.response.get("error"))
                done[index] = "failed"
                record = await fence.write({"images": done})
                continue
            file = resp.get("file") or (resp.get("files") or [{}])[0]
            file_id = str(file.get("id") or "uploaded")
        done[index] = file_id
        record = await fence.write({"images": done})
    return record


async def _thread_messages(services: Services, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message of the run's result thread, with metadata."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        resp = await services.slack.conversations_replies(
            channel=record["channel"], ts=record["result_thread"], include_all_metadata=True,
            limit=200, cursor=cursor)
        out += list(resp.get("messages") or [])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return out


async def _find_part(services: Services, record: dict[str, Any], index: int) -> str | None:
    """The ts of a result part a crashed attempt already posted, if it is in the thread."""
    for msg in await _thread_messages(services, record):
        meta = msg.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if (meta.get("event_type") == RESULT_EVENT and payload.get("run_id") == record["run_id"]
                and int(payload.get("part", -1)) == index):
            return str(msg["ts"])
    return None


async def _find_image(services: Services, record: dict[str, Any], name: str) -> str | None:
    """The file id of an image a crashed attempt already uploaded into the thread."""
    pattern = re.escape(name)
    for msg in await _thread_messages(services, record):
        for file in msg.get("files") or []:
            if re.fullmatch(pattern, str(file.get("name") or "")):
                return str(file.get("id"))
    return None
