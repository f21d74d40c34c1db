"""Exactly-once results across real processes: kill -9 mid-post, and replicas racing for runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from tests.e2e.conftest import BotFactory
from tests.e2e.test_agents import AGENT, FAST, card_run_id, cards, result_parts, start_by_command
from tests.support.harness import (
    BOT_TOKEN,
    GEMINI_KEY,
    SIGNING_SECRET,
    wait_healthy,
    wait_until,
)
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PARAGRAPH = "The quick brown fox jumps over the lazy dog near the riverbank at dawn. " * 12
LONG_RESULT = "\n\n".join(f"## Section {i}\n\n{PARAGRAPH}" for i in range(30))


@dataclass
class BotProcess:
    """A `python -m bot` subprocess and a signed sender aimed at it."""

    proc: asyncio.subprocess.Process
    sender: EventSender


async def _spawn(slack: FakeSlack, gemini: FakeGemini, redis_url: str, cwd: Path) -> BotProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_url, PORT=str(port),
               LOG_FORMAT="json", PYTHONPATH=str(ROOT), AGENT_POLL_MIN_S="0.2",
               AGENT_POLL_MAX_S="0.5", JOB_LEASE_S="3")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_healthy(port)
    except AssertionError:
        proc.kill()
        raise
    sender = EventSender(url=f"http://127.0.0.1:{port}/slack/events",
                         signing_secret=SIGNING_SECRET)
    return BotProcess(proc, sender)


@pytest.fixture
async def processes(slack: FakeSlack, gemini: FakeGemini, redis_flushed: str,
                    tmp_path: Path) -> AsyncIterator[list[BotProcess]]:
    """Two bot processes on the same Redis."""
    bots = [await _spawn(slack, gemini, redis_flushed, tmp_path) for _ in range(2)]
    try:
        yield bots
    finally:
        for bot in bots:
            if bot.proc.returncode is None:
                bot.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.proc.communicate(), timeout=15)


def _parts_once(slack: FakeSlack, thread_ts: str) -> Counter[int]:
    return Counter(int((m.metadata or {})["event_payload"]["part"])
                   for m in result_parts(slack, thread_ts))


async def test_kill_9_of_the_posting_process_result_posted_once_by_the_other(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str,
        processes: list[BotProcess]) -> None:
    gemini.queue(Reply(text=LONG_RESULT, background_s=1.0), model=AGENT)
    first = processes[0]
    await first.sender.send_command("/gemini", "agent write a long report")
    await wait_until(lambda: cards(slack), timeout=15, message="card")
    card = cards(slack)[-1]
    run_id = card_run_id(card)
    slack.delay_next("chat.postMessage", 1.0)  # the first result part hangs in Slack a while
    r = aioredis.Redis.from_url(redis_flushed)
    try:
        async def first_part_sending() -> bool:
            raw = await r.get(f"gs:rec:agent_run:{run_id}")
            return raw is not None and (json.loads(raw).get("parts") or [None])[0] == "sending"

        for _ in range(3000):
            # Marked `sending`, and Slack has the request (it is sitting in the delay).
            if not slack.delays["chat.postMessage"] and await first_part_sending():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no process started posting the result")
        owner = (await r.hget(f"gs:job:agent:{run_id}", "owner") or b"").decode()
    finally:
        await r.aclose()
    pid = int(owner.rsplit("-", 2)[1])
    victim = next(p for p in processes if p.proc.pid == pid)
    victim.proc.send_signal(signal.SIGKILL)
    await victim.proc.wait()
    await wait_until(lambda: "Done" in cards(slack)[-1].visible, timeout=30,
                     message="the survivor posts the result")
    parts = _parts_once(slack, card.ts)
    assert len(parts) >= 3, "a long result is split across messages"
    assert set(parts.values()) == {1}, f"every part exactly once: {parts}"
    assert sorted(parts) == list(range(len(parts)))
    shown = "\n".join(m.visible for m in result_parts(slack, card.ts))
    assert shown.count("## Section 29") + shown.count("Section 29") >= 1
    await asyncio.sleep(1.0)  # nothing more arrives later (a late duplicate would show here)
    assert set(_parts_once(slack, card.ts).values()) == {1}
    survivor = next(p for p in processes if p is not victim)
    survivor.proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(survivor.proc.communicate(), timeout=15)
    # Slack got the killed process's first part after it died: the survivor found it by its
    # metadata and kept it instead of posting it again.
    assert b"result_part_adopted" in err, err.decode()[-6000:]


async def test_replicas_never_post_a_result_twice(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bots = [await make_bot(**FAST) for _ in range(3)]
    runs = 4
    for i in range(runs):
        gemini.queue(Reply(text=f"result {i}\n\n{LONG_RESULT}", background_polls=2), model=AGENT)
    for i in range(runs):
        await start_by_command(slack, bots[i % 3], f"agent task {i}")
    await wait_until(lambda: sum("Done" in c.visible for c in cards(slack)) == runs,
                     timeout=60, message="every run done")
    for card in cards(slack):
        parts = _parts_once(slack, card.ts)
        assert len(parts) >= 3 and set(parts.values()) == {1}, parts
    posted = [c for c in slack.calls_to("chat.postMessage")
              if c.ok and "gemini_agent_result" in str(c.args.get("metadata"))]
    assert len(posted) == sum(len(_parts_once(slack, c.ts)) for c in cards(slack))


async def test_restarted_process_finishes_a_run_the_killed_one_started(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str, tmp_path: Path) -> None:
    gemini.queue(Reply(text="finished after the restart", background_s=2.0), model=AGENT)
    only = await _spawn(slack, gemini, redis_flushed, tmp_path)
    await only.sender.send_command("/gemini", "agent outlive the bot")
    await wait_until(lambda: cards(slack) and "Running" in cards(slack)[-1].visible,
                     timeout=15, message="Running")
    await wait_until(lambda: gemini.polls(next(iter(gemini.interactions))), message="a poll")
    only.proc.send_signal(signal.SIGKILL)
    await only.proc.wait()
    polls_before = len(gemini.polls(next(iter(gemini.interactions))))
    restarted = await _spawn(slack, gemini, redis_flushed, tmp_path)
    try:
        card = cards(slack)[-1]
        await wait_until(lambda: "Done" in cards(slack)[-1].visible, timeout=30,
                         message="the restarted process posts the result")
        [part] = result_parts(slack, card.ts)
        assert "finished after the restart" in part.visible
        assert len(gemini.polls(next(iter(gemini.interactions)))) > polls_before
    finally:
        restarted.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restarted.proc.communicate(), timeout=15)
