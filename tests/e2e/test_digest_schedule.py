"""Scheduled digests firing through the real app's job runner, with an injected clock:
09:00 Europe/Berlin on both sides of a DST change, make-up within DIGEST_GRACE_S, skip after."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from tests.e2e.test_digests import command, digest_posts, fire, private_reply, say
from tests.support.harness import RunningBot, input_text, wait_until


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


async def test_daily_nine_berlin_fires_at_nine_local_across_spring_forward(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    bot.services.jobs.clock = lambda: utc(2026, 3, 28, 7, 30)  # 08:30 CET
    first_msg = say(slack, "U1", "friday notes", ts=f"{utc(2026, 3, 27, 12):.6f}")
    second_msg = say(slack, "U2", "saturday notes", ts=f"{utc(2026, 3, 28, 20):.6f}")
    await command(slack, bot, "digest daily 09:00 Europe/Berlin")
    assert "Sat 28 Mar, 09:00 CET" in await private_reply(slack)
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None and job.due_at == utc(2026, 3, 28, 8)  # 09:00 CET
    await fire(bot, slack, job.due_at + 1, posts=1)
    nxt = await bot.services.store.jobs.get("digest:T1:C1")
    assert nxt is not None and nxt.due_at == utc(2026, 3, 29, 7)  # 09:00 CEST
    await fire(bot, slack, nxt.due_at + 1, posts=2)
    berlin = ZoneInfo("Europe/Berlin")
    periods = [int(p.metadata["event_payload"]["period"]) for p in digest_posts(slack)]
    assert [datetime.fromtimestamp(p, berlin).strftime("%a %H:%M %Z") for p in periods] == [
        "Sat 09:00 CET", "Sun 09:00 CEST"]
    assert "Sat 28 Mar 2026" in str(digest_posts(slack)[0].blocks)
    assert "Sun 29 Mar 2026" in str(digest_posts(slack)[1].blocks)
    first_input, second_input = (input_text(c) for c in gemini.creates)
    assert first_msg in first_input and second_msg not in first_input
    assert second_msg in second_input and first_msg not in second_input


async def test_missed_run_is_skipped_after_grace_and_made_up_within_it(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot,
        capsys: pytest.CaptureFixture[str]) -> None:
    await command(slack, bot, "digest daily 09:00 UTC")
    await private_reply(slack)
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None
    due = job.due_at
    later = say(slack, "U1", "made-up period message", ts=f"{due + 3600:.6f}")
    await bot.send(bot.sender.message("C1", "U1", "made-up period message", later))
    # Every process was down for 3 hours past the run (grace is 2 h): skipped, logged.
    bot.services.jobs.clock = lambda: due + 3 * 3600
    bot.services.jobs.wake()
    await wait_until(lambda: "digest_missed_skipped" in capsys.readouterr().out,
                     message="skip log line")
    skipped = await bot.services.store.jobs.get("digest:T1:C1")
    assert skipped is not None and skipped.due_at == due + 86_400
    assert not gemini.creates and not digest_posts(slack)
    # Back 1 hour after the next run: made up once.
    await fire(bot, slack, due + 86_400 + 3600, posts=1)
    assert "made-up period message" in input_text(gemini.creates[0])
    again = await bot.services.store.jobs.get("digest:T1:C1")
    assert again is not None and again.due_at == due + 2 * 86_400
    assert len(digest_posts(slack)) == 1 and len(gemini.creates) == 1
