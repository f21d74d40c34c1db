"""files.getUploadURLExternal / completeUploadExternal / info (the files_upload_v2 flow)."""

from __future__ import annotations

from typing import Any

from .args import as_int, required, text_arg
from .models import SlackError, UploadSlot
from .state import Workspace


def get_upload_url(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """files.getUploadURLExternal: reserve a file id and an upload URL on this fake."""
    filename = required(args, "filename")
    length = as_int(required(args, "length"), "length")
    if length < 0:
        raise SlackError("invalid_arguments", messages=["[ERROR] length must be positive"])
    file_id = ws.new_id("F")
    ws.uploads[file_id] = UploadSlot(file_id, filename, length, text_arg(args, "alt_txt"))
    return {"upload_url": f"{ws.base_url}/upload/v1/{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, data: bytes) -> tuple[int, str]:
    """The upload URL: raw bytes whose count must equal the announced length."""
    slot = ws.uploads.get(file_id)
    if slot is None:
        return 404, "file_not_found"
    if slot.content is not None:
        return 400, "already_uploaded"
    if len(data) != slot.length:
        return 400, f"length_mismatch - expected {slot.length}, got {len(data)}"
    slot.content = data
    return 200, f"OK - {len(data)}"


def complete_upload(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """files.completeUploadExternal: finish uploads and share them into a channel/thread."""
    files = args.get("files")
    if not isinstance(files, list) or not files:
        raise SlackError("invalid_arguments", messages=["[ERROR] files must be a non-empty list"])
    slots = []
    for item in files:
        slot = ws.uploads.get(str(item.get("id") if isinstance(item, dict) else ""))
        if slot is None or slot.content is None:
            raise SlackError("file_not_found")
        slots.append((slot, item.get("title")))
    channel_ids = [c for c in str(args.get("channels") or "").split(",") if c]
    if args.get("channel_id"):
        channel_ids.insert(0, str(args["channel_id"]))
    channels = [ws.channel(c) for c in channel_ids]
    thread_ts = text_arg(args, "thread_ts") or None
    if thread_ts is not None:
        if not channels:
            raise SlackError("invalid_arguments",
                             messages=["[ERROR] thread_ts requires channel_id"])
        ws.check_thread(channels[0].id, thread_ts)
    objs = []
    for slot, title in slots:
        assert slot.content is not None
        ws.store_file(slot.filename, None, slot.content, title=title, user=ws.bot_user_id,
                      file_id=slot.file_id)
        ws.files[slot.file_id]["channels"] = [c.id for c in channels]
        if slot.alt_txt:
            ws.files[slot.file_id]["alt_txt"] = slot.alt_txt
        del ws.uploads[slot.file_id]
        objs.append(ws.file_object(slot.file_id))
    for i, ch in enumerate(channels):
        ws.add_bot_message(ch, thread_ts if i == 0 else None, subtype="file_share",
                           text=str(args.get("initial_comment") or ""), files=objs)
    return {"files": objs}


def info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """files.info."""
    file_id = str(args.get("file") or "")
    if file_id not in ws.files:
        raise SlackError("file_not_found")
    return {"file": ws.file_object(file_id), "comments": [],
            "response_metadata": {"next_cursor": ""}}


METHODS = {
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "files.info": info,
}
