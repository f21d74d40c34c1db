"""The real entry point: `python -m bot` as a process answers a signed event and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from fakes.gemini import FakeGemini
from fakes.slack import EventSender, FakeSlack
from tests.e2e.test_threads import bot_replies
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, SIGNING_SECRET, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bot_process_answers_and_stops_on_sigterm(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_flushed, PORT=str(port),
               LOG_FORMAT="json", PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the bot never became healthy")
        sender = EventSender(url=f"http://127.0.0.1:{port}/slack/events",
                             signing_secret=SIGNING_SECRET)
        ts = slack.post_user_message("C1", user="U1", text="<@UBOT> from a real process")
        status, *_ = await sender.send_event(
            sender.app_mention("C1", "U1", "<@UBOT> from a real process", ts))
        assert status == 200
        await wait_until(lambda: bot_replies(slack, "C1", ts) == [
            "echo: <@U1>: from a real process"], timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
    assert proc.returncode == 0
    logs = err.decode()
    assert "shutting_down" in logs and "turn_answered" in logs
    assert "from a real process" not in logs, "message text is never logged at info"
    assert BOT_TOKEN not in logs
