"""`python -m bot` (what `make run` runs) with no Slack credentials opens the playground."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from playground.demo_model import LABEL
from playground.stack import DM
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "GEMINI_", "REDIS_", "GOOGLE_", "LOG_"))}


async def test_no_credentials_opens_the_playground_and_it_answers(tmp_path: Path) -> None:
    """Through `python -m bot.launch`, the module `make run` starts."""
    port = free_port()
    env = CLEAN_ENV | {"PYTHONPATH": str(ROOT), "PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.launch", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = f"http://127.0.0.1:{port}/"
        assert url in line, line
        assert "offline demo model" in line and "GEMINI_API_KEY" in line
        assert "SLACK_BOT_TOKEN" in line, "the line says how to switch to Slack"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200 and LABEL in await resp.text()
            async with http.get(url + "events") as feed:
                await feed.content.readline()
                async with http.post(url + "api/messages",
                                     json={"channel": DM, "text": "hello"}) as resp:
                    assert resp.status == 200
                answer = None
                while answer is None:
                    raw = (await asyncio.wait_for(feed.content.readline(), 30)).decode()
                    if raw.startswith("data: "):
                        answer = next((i for i in json.loads(raw[6:])["items"]
                                       if "Regenerate" in i.get("html", "")), None)
                assert "offline demo model" in answer["html"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert "hello" not in err.decode(), "message text is never logged"


def test_a_busy_port_is_explained_with_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=CLEAN_ENV | {
            "PYTHONPATH": str(ROOT), "PORT": str(port)}, capture_output=True, text=True,
            timeout=60)
    assert proc.returncode == 2
    assert f"port {port} is in use" in proc.stderr and "set PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_partial_slack_setup_still_explains_what_is_missing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bot.launch"], cwd=tmp_path, env=CLEAN_ENV | {
        "PYTHONPATH": str(ROOT), "SLACK_APP_TOKEN": "xapp-1"}, capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in proc.stderr
