"""The real entry point: `python -m bot` processes answer, stop on SIGTERM, survive kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from tests.e2e.test_threads import bot_replies
from tests.support.harness import (
    BOT_TOKEN,
    GEMINI_KEY,
    SIGNING_SECRET,
    wait_healthy,
    wait_until,
)
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SLOW_WORDS = [f"word{i:02d} " for i in range(60)]
"""An answer streamed over about 6 s (60 chunks, 0.1 s apart)."""


class BotProcess:
    """One `python -m bot` child process on its own port, with a signed-event sender."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.sender = EventSender(url=f"http://127.0.0.1:{port}/slack/events",
                                  signing_secret=SIGNING_SECRET)
        self.logs = ""

    async def healthy(self) -> None:
        """Wait until /healthz answers 200."""
        await wait_healthy(self.port)

    async def mention(self, slack: FakeSlack, text: str) -> str:
        """A person mentions the bot in C1; the event goes to this process."""
        ts = slack.post_user_message("C1", user="U1", text=f"<@UBOT> {text}")
        status, *_ = await self.sender.send_event(
            self.sender.app_mention("C1", "U1", f"<@UBOT> {text}", ts))
        assert status == 200
        return ts

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process and collect its logs; its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout=timeout)
        self.logs = err.decode()
        assert self.proc.returncode is not None
        return self.proc.returncode


Launcher = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def launch(slack: FakeSlack, gemini: FakeGemini, redis_flushed: str,
                 tmp_path: Path) -> AsyncIterator[Launcher]:
    """Start `python -m bot` processes on the shared Redis (killed after the test)."""
    procs: list[BotProcess] = []

    async def start(module: str = "bot", **env_overrides: str) -> BotProcess:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
                   GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_flushed, PORT=str(port),
                   LOG_FORMAT="json", PYTHONPATH=str(ROOT), EDIT_INTERVAL_S="0.2",
                   SLACK_STREAMING="edit", SPOOL_DIR=str(tmp_path / "spool"))
        env.update(env_overrides)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        bot = BotProcess(proc, port)
        procs.append(bot)
        await bot.healthy()
        return bot

    try:
        yield start
    finally:
        for bot in procs:
            if bot.proc.returncode is None:
                children = _children(bot.proc.pid)  # make run's web and workers
                bot.proc.kill()
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                await bot.proc.communicate()


async def wait_until_scraped(url: str, sample: str, timeout: float = 10.0) -> None:
    """Poll a /metrics page until it shows `sample` (counted once the turn is saved)."""
    deadline = time.monotonic() + timeout
    page = ""
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(url) as resp:
                page = await resp.text()
            if sample in page:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{sample!r} never appeared on {url}")


def streamed_some(slack: FakeSlack, ts: str) -> bool:
    """Part of the slow answer is visible in the thread."""
    shown = bot_replies(slack, "C1", ts)
    return len(shown) == 1 and shown[0].startswith("word00 word01")


async def test_bot_process_answers_and_stops_on_sigterm(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher) -> None:
    bot = await launch()
    ts = await bot.mention(slack, "from a real process")
    await wait_until(lambda: bot_replies(slack, "C1", ts) == [
        "echo: <@U1>: from a real process"], timeout=15)
    await wait_until_scraped(f"http://127.0.0.1:{bot.port}/metrics",
                             'gemini_slack_turns_total{outcome="answered"} 1.0')
    assert await bot.stop() == 0
    logs = bot.logs
    assert "shutting_down" in logs and "turn_answered" in logs
    assert "from a real process" not in logs, "message text is never logged at info"
    assert BOT_TOKEN not in logs and GEMINI_KEY not in logs and SIGNING_SECRET not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    accepted = next(line for line in lines if line["event"] == "turn_accepted")
    answered = next(line for line in lines if line["event"] == "turn_answered")
    assert accepted["event_id"].startswith("Ev") and accepted["thread"] == f"T1:C1:{ts}"
    assert answered["event_id"] == accepted["event_id"] and answered["thread"] == f"T1:C1:{ts}"
    assert answered["interaction"], "the answer's log line names its Gemini interaction"


async def test_sigterm_lets_a_running_answer_finish(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher) -> None:
    bot = await launch()
    gemini.queue(Reply(chunks=SLOW_WORDS, delay_s=0.1))
    ts = await bot.mention(slack, "a slow one")
    await wait_until(lambda: streamed_some(slack, ts), timeout=15, message="streaming")
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.stop() == 0
    assert bot_replies(slack, "C1", ts) == ["".join(SLOW_WORDS).strip()], \
        "finished within the grace, in its one message"
    assert "all_turns_finished" in bot.logs


async def test_sigterm_past_the_grace_hands_the_answer_to_a_replica(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher) -> None:
    first = await launch(SHUTDOWN_GRACE_S="0.5")
    replica = await launch()
    gemini.queue(Reply(chunks=SLOW_WORDS, delay_s=0.1))
    ts = await first.mention(slack, "hand me over")
    await wait_until(lambda: streamed_some(slack, ts), timeout=15, message="streaming")
    placeholder = [m.ts for m in slack.visible_thread("C1", ts) if m.bot_id]
    assert await first.stop() == 0
    assert "handing_over_turns" in first.logs
    await wait_until(lambda: bot_replies(slack, "C1", ts) == ["echo: <@U1>: hand me over"],
                     timeout=15, message="the replica finishing the answer")
    assert [m.ts for m in slack.visible_thread("C1", ts) if m.bot_id] == placeholder, \
        "finished in the same Slack message, never a second answer"
    assert await replica.stop() == 0


async def test_kill_9_mid_answer_is_finished_by_a_replica_within_seconds(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher) -> None:
    doomed = await launch()
    replica = await launch()
    gemini.queue(Reply(chunks=SLOW_WORDS * 3, delay_s=0.1))  # would take 18 s
    ts = await doomed.mention(slack, "survive this")
    await wait_until(lambda: streamed_some(slack, ts), timeout=15, message="streaming")
    placeholder = [m.ts for m in slack.visible_thread("C1", ts) if m.bot_id]
    doomed.proc.kill()
    killed_at = time.monotonic()
    await doomed.stop()
    await wait_until(lambda: bot_replies(slack, "C1", ts) == ["echo: <@U1>: survive this"],
                     timeout=20, message="the replica finishing the answer")
    took = time.monotonic() - killed_at
    print(f"kill -9 -> finished in {took:.1f} s")
    assert took < 12, f"resumed {took:.1f} s after kill -9 (thread lease is short)"
    assert [m.ts for m in slack.visible_thread("C1", ts) if m.bot_id] == placeholder
    assert await replica.stop() == 0


async def test_kill_9_right_after_the_ack_loses_no_message(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher, tmp_path: Path) -> None:
    """Redis hangs, so the acked messages are only in the write-ahead journal (or the spool)
    when the process dies: the next start answers each of them once."""
    with RedisServer() as own:
        doomed = await launch(REDIS_URL=own.url)
        own.freeze()  # the store stops answering: the turns cannot be claimed or queued
        try:
            stamps = [await doomed.mention(slack, f"keep me {i}") for i in range(3)]
            doomed.proc.kill()
            await doomed.stop()
        finally:
            own.thaw()
        spool = tmp_path / "spool"

        def kept() -> int:
            return len([*spool.glob("*.json"), *spool.glob("journal/*.json")])

        assert kept() == 3, "each acked message is journaled (or spooled)"
        restarted = await launch(REDIS_URL=own.url)
        for i, ts in enumerate(stamps):
            await wait_until(lambda ts=ts, i=i: bot_replies(slack, "C1", ts) == [
                f"echo: <@U1>: keep me {i}"], timeout=20, message=f"answer {i} after restart")
        assert kept() == 0
        assert len(gemini.creates) == 3
        assert await restarted.stop() == 0


async def test_make_run_starts_a_web_and_a_worker_process_in_one_command(
        slack: FakeSlack, gemini: FakeGemini, launch: Launcher) -> None:
    bot = await launch(module="bot.launch", WORKERS="1")
    worker_metrics = f"http://127.0.0.1:{bot.port + 1}/metrics"
    ts = await bot.mention(slack, "split roles")
    await wait_until(lambda: bot_replies(slack, "C1", ts) == ["echo: <@U1>: split roles"],
                     timeout=15)
    await wait_until_scraped(worker_metrics, 'gemini_slack_turns_total{outcome="answered"} 1.0')
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{bot.port}/metrics") as resp:
            web_page = await resp.text()
    assert 'outcome="answered"' not in web_page, "the web process only acks and queues"
    assert 'gemini_slack_events_acked_total{status="200",type="app_mention"} 1.0' in web_page
    web_pid, worker_pid = _children(bot.proc.pid)
    assert [_niceness(web_pid), _niceness(worker_pid)] == [_niceness(bot.proc.pid),
                                                          _niceness(bot.proc.pid) + 10], \
        "the worker runs at a lower CPU priority than the web process that acks"
    assert await bot.stop() == 0
    assert bot.logs.count("shutting_down") == 2, "SIGTERM reached both processes"


def _niceness(pid: int) -> int:
    """A process's nice value (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _children(pid: int) -> list[int]:
    """A process's child processes, oldest first."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_make_run_killed_with_kill_9_leaves_no_web_or_worker_behind(
        launch: Launcher) -> None:
    bot = await launch(module="bot.launch", WORKERS="1")
    await wait_healthy(bot.port + 1)
    children = _children(bot.proc.pid)
    assert len(children) == 2
    bot.proc.kill()
    await bot.proc.wait()

    def gone(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"

    await wait_until(lambda: all(gone(pid) for pid in children), timeout=30,
                     message="web and worker stopped with their launcher")
