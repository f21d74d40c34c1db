"""Shared helpers of the benchmarks that start real bot processes against the local fakes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from fakes.gemini import FakeGemini
from fakes.slack import EventSender, FakeSlack
from tests.support.harness import BOT_TOKEN, GEMINI_KEY, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    """The `q` quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def fakes() -> tuple[FakeSlack, FakeGemini]:
    """A started fake Slack (user U1, channel C1, no rate limits) and fake Gemini."""
    slack = FakeSlack(bot_token=BOT_TOKEN, app_token="xapp-bench", team_id="T1",
                      bot_user_id="UBOT", bot_id="BBOT")
    await slack.start()
    slack.add_user("U1", name="alice")
    slack.add_channel("C1", name="general")
    slack.rate_limits = False  # measure the bot's own pacing, not the fake's limiter
    gemini = FakeGemini(api_key=GEMINI_KEY)
    await gemini.start()
    return slack, gemini


def bot_env(slack: FakeSlack, gemini: FakeGemini, redis_url: str, port: int,
            **extra: str) -> dict[str, str]:
    """The environment of a bot process talking to the fakes (no real Slack/Gemini settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, REDIS_URL=redis_url, PORT=str(port),
               LOG_LEVEL="warning", WORKERS="1", PYTHONPATH=str(ROOT),
               SPOOL_DIR=tempfile.mkdtemp(prefix="gs-bench-spool-"), **extra)
    return env


async def send_events(url: str, events: list[dict[str, Any]], gap_s: float = 0.0,
                      rate: float = 0.0) -> list[float]:
    """Send events from a separate process (bench/burst.py); their ack latencies in ms."""
    job = json.dumps({"url": url, "secret": SIGNING_SECRET, "events": events, "gap_s": gap_s,
                      "rate": rate})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.burst", cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(job.encode())
    if proc.returncode:
        raise RuntimeError("the burst sender failed")
    return [float(v) for v in json.loads(out)]


async def healthy(port: int, proc: asyncio.subprocess.Process) -> None:
    """Wait until the process answers GET /healthz (RuntimeError if it exits or never does)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            if proc.returncode is not None:
                raise RuntimeError("the process under test exited")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError("the process under test never became healthy")


async def stop(proc: asyncio.subprocess.Process, grace_s: float = 30.0) -> None:
    """SIGTERM the process (make run passes it on); after `grace_s` SIGKILL it and its children
    (a killed launcher would leave its web and workers running)."""
    if proc.returncode is None:
        tree = process_tree(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            for pid in reversed(tree):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await proc.wait()


def process_tree(pid: int) -> list[int]:
    """`pid` and its child processes (make run's web and workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *[int(c) for c in children]]


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def mentions(slack: FakeSlack, n: int, tag: str,
             channels: tuple[str, ...] = ("C1",)) -> tuple[list[tuple[str, str]],
                                                            list[dict[str, Any]]]:
    """Post `n` new-thread mentions (round-robin over `channels`) in the fake Slack: their
    (channel, ts) and the app_mention events to deliver."""
    sender = EventSender(url="", signing_secret=SIGNING_SECRET)
    where, events = [], []
    for i in range(n):
        channel = channels[i % len(channels)]
        text = f"<@UBOT> {tag}{i}"
        ts = slack.post_user_message(channel, user="U1", text=text)
        where.append((channel, ts))
        events.append(sender.app_mention(channel, "U1", text, ts))
    return where, events
