"""`make run` in Socket Mode: only the web process holds the socket and acks; the worker answers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from tests.e2e.test_process import wait_until_scraped
from tests.e2e.test_threads import bot_replies
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, input_text, wait_healthy, wait_until
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def launched(slack: FakeSlack, gemini: FakeGemini, redis_flushed: str,
                   tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """`python -m bot.launch` in Socket Mode (no signing secret): a web and one worker."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN="xapp-test",
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_flushed, PORT=str(port),
               WORKERS="1", LOG_FORMAT="json", PYTHONPATH=str(ROOT), EDIT_INTERVAL_S="0.2",
               SLACK_STREAMING="edit", SPOOL_DIR=str(tmp_path / "spool"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.launch", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_healthy(port)
        await wait_healthy(port + 1)
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.communicate(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.communicate()


async def _metrics(port: int) -> str:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        return await resp.text()


async def test_socket_mode_web_acks_over_its_one_socket_and_the_worker_answers(
        slack: FakeSlack, gemini: FakeGemini,
        launched: tuple[asyncio.subprocess.Process, int]) -> None:
    proc, port = launched
    hub = slack.socket_mode
    await wait_until(lambda: hub.opened >= 1, timeout=15, message="the socket connection")
    sender = EventSender(url="", signing_secret="unused")
    gemini.queue(Reply(text="first answer, slowly streamed", chunk_size=4, delay_s=0.05))
    threads: list[str] = []
    first_payload: dict[str, object] = {}
    for i in range(4):
        ts = slack.post_user_message("C1", user="U1", text=f"<@UBOT> q{i}")
        payload = sender.envelope(sender.app_mention("C1", "U1", f"<@UBOT> q{i}", ts))
        first_payload = first_payload or payload
        assert await hub.send("events_api", payload) is not None, f"envelope {i} acked"
        threads.append(ts)
        if i == 0:  # the slow first answer goes to q0; the thread's next turns wait for it
            await wait_until(lambda: len(gemini.creates) == 1, timeout=15, message="q0 asked")
    # Slack redelivers the first event (same event_id): acked, never answered twice.
    assert await hub.send("events_api", first_payload, retry_attempt=1,
                          retry_reason="timeout") is not None
    # Two more turns in the first thread: they chain after its first answer, in order. (The
    # second waits for the first's placeholder: two placeholders posted at once may land in
    # either order.)
    for n, text in enumerate(("and then", "and finally"), start=2):
        ts = slack.post_user_message("C1", user="U1", text=text, thread_ts=threads[0])
        payload = sender.envelope(sender.message("C1", "U1", text, ts, thread_ts=threads[0]))
        assert await hub.send("events_api", payload) is not None
        await wait_until(lambda n=n: len(bot_replies(slack, "C1", threads[0])) == n,  # type: ignore[misc]
                         timeout=20, message=f"{text!r} has its place in the thread")
    expected = ["first answer, slowly streamed", "echo: <@U1>: and then",
                "echo: <@U1>: and finally"]
    await wait_until(lambda: bot_replies(slack, "C1", threads[0]) == expected, timeout=30,
                     message="the first thread answered in order")
    for i, ts in enumerate(threads[1:], start=1):
        await wait_until(lambda ts=ts, i=i: bot_replies(slack, "C1", ts) == [  # type: ignore[misc]
            f"echo: <@U1>: q{i}"], timeout=20, message=f"thread {i} answered")
    assert len(hub.connections) == 1 and hub.opened == 1, \
        "only the web process opens the socket"
    assert len(gemini.creates) == 6, "each turn answered once (the redelivery was not)"
    ids = dict(zip((input_text(c) for c in gemini.creates), gemini.interactions, strict=True))
    previous = {input_text(c): c.get("previous_interaction_id") for c in gemini.creates}
    assert previous["<@U1>: and then"] == ids["<@U1>: q0"]
    assert previous["<@U1>: and finally"] == ids["<@U1>: and then"], "turns chained in order"
    await wait_until_scraped(f"http://127.0.0.1:{port + 1}/metrics",  # counted once saved
                             'gemini_slack_turns_total{outcome="answered"} 6.0')
    web_page, worker_page = await _metrics(port), await _metrics(port + 1)
    assert 'gemini_slack_events_received_total{type="app_mention"} 5.0' in web_page
    assert "events_received_total{" not in worker_page, "the worker receives nothing"
    assert 'outcome="answered"' not in web_page, "the web process only acks and queues"
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0
    assert err.decode().count("socket_mode_skipped") == 1, "the worker says why, once"
