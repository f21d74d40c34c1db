"""Exactly once per period with real `python -m bot` processes: two running, one killed -9 in
the middle of a run, then restarted inside the period: the channel gets one digest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from storage import RedisStore
from tests.e2e.test_digests import digest_posts, structured
from tests.e2e.test_process import ROOT
from tests.support.harness import (
    BOT_TOKEN,
    GEMINI_KEY,
    SIGNING_SECRET,
    wait_healthy,
    wait_until,
)
from tests.support.ports import free_port

JOB = "digest:T1:C1"


async def start_process(slack: FakeSlack, gemini: FakeGemini, redis_url: str,
                        tmp_path: Path) -> tuple[asyncio.subprocess.Process, str]:
    """A bot process on its own port; returns it once healthy, with its events URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GEMINI_"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack.api_url, GEMINI_API_KEY=GEMINI_KEY,
               GEMINI_BASE_URL=gemini.base_url, GEMINI_RETRY_ATTEMPTS="1",
               GEMINI_TIMEOUT_S="120", REDIS_URL=redis_url, PORT=str(port),
               LOG_FORMAT="json", PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_healthy(port)
    except AssertionError:
        proc.kill()
        raise
    return proc, f"http://127.0.0.1:{port}/slack/events"


async def job_state(store: RedisStore) -> tuple[str | None, float]:
    job = await store.jobs.get(JOB)
    assert job is not None
    return job.owner, job.due_at


async def test_digest_posted_once_across_two_processes_a_kill_and_a_restart(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str, tmp_path: Path) -> None:
    store = RedisStore.from_url(redis_flushed)
    procs = [await start_process(slack, gemini, redis_flushed, tmp_path) for _ in range(2)]
    try:
        sender = EventSender(url=procs[0][1], signing_secret=SIGNING_SECRET)
        await sender.send_command("/gemini", "digest daily 09:00 UTC",
                                  response_url=slack.new_response_url("C1", "U1"))
        await wait_until(lambda: slack.ephemerals("C1", "U1"), timeout=15, message="scheduled")
        for text in ("release is friday", "notes by thursday"):
            ts = slack.post_user_message("C1", user="U1", text=text)
            await sender.send_event(sender.message("C1", "U1", text, ts))
        # Make the period due now (as if 09:00 had come), with the first model call hanging.
        stored = await store.jobs.get(JOB)
        assert stored is not None
        due = time.time()
        gemini.queue(Reply(text=json.dumps({"topics": []}), hang_s=120))
        gemini.queue(structured(topics=[{"title": "Release", "summary": "Friday",
                                         "sources": []}]))
        await store.jobs.schedule(JOB, "digest", due, {**stored.data, "due": due})
        await wait_until(lambda: len(gemini.creates) == 1, timeout=15, message="model call")
        owner, _ = await job_state(store)
        assert owner is not None
        pid = int(owner.split("-")[-2])
        victim = next(i for i, (p, _) in enumerate(procs) if p.pid == pid)
        procs[victim][0].send_signal(signal.SIGKILL)  # kill -9 in the middle of the run
        await procs[victim][0].wait()
        # The survivor takes the period over once the dead process's lease runs out.
        await wait_until(lambda: len(digest_posts(slack)) == 1, timeout=60,
                         message="digest from the surviving process")
        for _ in range(200):
            owner, next_due = await job_state(store)
            if owner is None and next_due > due:
                break
            await asyncio.sleep(0.05)
        assert next_due > due + 3600, "rescheduled to the next period"
        run = await store.records.get("digest_run", f"T1:C1:{int(due)}")
        assert run is not None and run["status"] == "posted"
        # Restart the killed process inside the period, and make the same period due again
        # (as a lease running out after the post would): the run record stops a second post.
        procs[victim] = await start_process(slack, gemini, redis_flushed, tmp_path)
        creates = len(gemini.creates)
        await store.jobs.schedule(JOB, "digest", time.time(), {**stored.data, "due": due})
        for _ in range(300):
            owner, again = await job_state(store)
            if owner is None and again > due + 3600:
                break
            await asyncio.sleep(0.05)
        assert again > due + 3600, "the repeated period was handled and rescheduled"
        assert len(digest_posts(slack)) == 1 and len(gemini.creates) == creates
        assert "Friday" in json.dumps(digest_posts(slack)[0].blocks)
    finally:
        for proc, _ in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            await asyncio.wait_for(proc.wait(), timeout=15)
        await store.close()
