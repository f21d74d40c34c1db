"""bot.threads.files: which block type a Slack file becomes, limits, and downloads from Slack."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from bot.config import load_settings
from bot.threads.files import (
    TEXT_CHAR_LIMIT,
    DownloadError,
    FileInputs,
    FileLimits,
    Skipped,
    classify,
    describe_size,
    download,
    sniff,
    to_blocks,
    token_allowed,
)
from fakes.slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack serving url_private downloads."""
    fake = FakeSlack(bot_token="xoxb-test")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.mark.parametrize(("file", "expected"), [
    ({"mimetype": "image/png", "filetype": "png"}, ("image", "image/png")),
    ({"mimetype": "image/jpg", "filetype": "jpg"}, ("image", "image/jpeg")),
    ({"mimetype": "application/pdf", "filetype": "pdf"}, ("document", "application/pdf")),
    ({"mimetype": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "filetype": "docx"},
     ("document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
    ({"mimetype": "audio/mpeg", "filetype": "mp3"}, ("audio", "audio/mpeg")),
    ({"mimetype": "audio/x-wav", "filetype": "wav"}, ("audio", "audio/wav")),
    ({"mimetype": "video/mp4", "filetype": "mp4", "subtype": "slack_audio"},
     ("audio", "audio/mp4")),
    ({"mimetype": "video/quicktime", "filetype": "mov"}, ("video", "video/mov")),
    ({"mimetype": "text/plain", "filetype": "text"}, ("text", "text/plain")),
    ({"mimetype": "text/csv; charset=utf-8", "filetype": "csv"}, ("text", "text/csv")),
    ({"mimetype": "application/json", "filetype": "json"}, ("text", "application/json")),
    ({"mimetype": "application/octet-stream", "filetype": "python"},
     ("text", "application/octet-stream")),
    ({"mimetype": "application/zip", "filetype": "zip"}, None),
    ({"mimetype": "image/vnd.adobe.photoshop", "filetype": "psd"}, None),
    ({}, None),
])
def test_classify_maps_mimetype_and_filetype(file: dict[str, str],
                                             expected: tuple[str, str] | None) -> None:
    assert classify(file) == expected


def test_media_becomes_a_labelled_base64_block() -> None:
    blocks, reason = to_blocks("cat.png", "image", "image/png", PNG)
    assert reason is None
    assert blocks[0] == {"type": "text", "text": "[Attached file: cat.png]"}
    assert blocks[1]["type"] == "image" and blocks[1]["mime_type"] == "image/png"
    assert base64.b64decode(blocks[1]["data"], validate=True) == PNG


def test_image_mime_follows_the_bytes_and_mislabelled_files_are_refused() -> None:
    blocks, reason = to_blocks("photo.jpg", "image", "image/jpeg", PNG)
    assert reason is None and blocks[1]["mime_type"] == "image/png"
    _, reason = to_blocks("report.pdf", "document", "application/pdf", b"not a pdf at all")
    assert reason == "its contents don't look like a application/pdf file"
    _, reason = to_blocks("song.mp3", "audio", "audio/mpeg", PNG)
    assert reason is not None
    _, reason = to_blocks("empty.pdf", "document", "application/pdf", b"")
    assert reason == "it is empty"
    assert sniff(PDF) == "application/pdf" and sniff(b"RIFF1234WEBPVP8 ") == "image/webp"


def test_text_file_becomes_one_text_block_naming_the_file() -> None:
    blocks, reason = to_blocks("main.py", "text", "text/x-python", b"\xef\xbb\xbfprint('hi')\n")
    assert reason is None
    assert blocks == [{"type": "text", "text": "Attached file main.py:\n```\nprint('hi')\n\n```"}]
    blocks, _ = to_blocks("notes.md", "text", "text/markdown", b"```py\nx\n```")
    assert blocks[0]["text"].startswith("Attached file notes.md:\n````\n")
    _, reason = to_blocks("data.txt", "text", "text/plain", b"ab\x00cd")
    assert reason == "it looks like a binary file, not text"


def test_long_text_file_is_cut_with_a_note() -> None:
    blocks, _ = to_blocks("big.log", "text", "text/plain", b"x" * (TEXT_CHAR_LIMIT + 10))
    text = blocks[0]["text"]
    assert text.count("x") == TEXT_CHAR_LIMIT
    assert text.endswith("characters of this file are included.)")


def test_limits_and_notes() -> None:
    settings = load_settings(slack_bot_token="xoxb-t", slack_signing_secret="s",
                             gemini_api_key="k", max_file_mb=2, max_turn_files_mb=3,
                             max_files_per_turn=4, file_download_timeout_s=5)
    limits = FileLimits.from_settings(settings)
    assert limits == FileLimits(2 * 1024 * 1024, 3 * 1024 * 1024, 4, 5.0)
    assert describe_size(25 * 1024 * 1024) == "25 MB"
    assert describe_size(1536 * 1024) == "1.5 MB"
    assert describe_size(300) == "1 KB"
    inputs = FileInputs(skipped=[Skipped("a.zip", "its type (Zip) isn't supported")])
    assert inputs.notes == ["I couldn't read a.zip: its type (Zip) isn't supported."]
    assert "a.zip: its type (Zip) isn't supported" in (inputs.model_note() or "")
    assert FileInputs().model_note() is None


def test_the_bot_token_only_goes_to_slack_hosts() -> None:
    settings = load_settings(slack_bot_token="xoxb-t", slack_signing_secret="s",
                             gemini_api_key="k", slack_api_url="http://127.0.0.1:9/api/")
    assert token_allowed("https://files.slack.com/files-pri/T1-F1/a.png", settings)
    assert token_allowed("http://127.0.0.1:9/files-pri/T1-F1/a.png", settings)
    assert not token_allowed("http://files.slack.com/files-pri/T1-F1/a.png", settings)
    assert not token_allowed("https://files.slack.com.evil.example/a.png", settings)
    assert not token_allowed("https://evil.example/a.png", settings)
    # A non-local API host never gets the token over plain http.
    proxied = load_settings(slack_bot_token="xoxb-t", slack_signing_secret="s",
                            gemini_api_key="k", slack_api_url="https://slack.example.org/api/")
    assert token_allowed("https://slack.example.org/files/a.png", proxied)
    assert not token_allowed("http://slack.example.org/files/a.png", proxied)


async def test_download_needs_the_bot_token_and_respects_the_cap(slack: FakeSlack) -> None:
    file = slack.add_file("cat.png", "image/png", PNG)
    url = file["url_private"]
    assert await download(url, "xoxb-test", max_bytes=1024, timeout_s=5) == PNG
    with pytest.raises(DownloadError, match="sign-in page"):
        await download(url, "xoxb-wrong", max_bytes=1024, timeout_s=5)
    with pytest.raises(DownloadError, match="larger than allowed"):
        await download(url, "xoxb-test", max_bytes=len(PNG) - 1, timeout_s=5)
    with pytest.raises(DownloadError, match="HTTP 404"):
        await download(url.replace(file["id"], "FNOPE"), "xoxb-test", max_bytes=1024,
                       timeout_s=5)
    downloads = slack.calls_to("(download)")
    assert [c.error for c in downloads] == [None, "login_page", None, "file_not_found"]
    assert downloads[0].headers["Authorization"] == "Bearer xoxb-test"
