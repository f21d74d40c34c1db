"""Digest building blocks without Slack: rules across DST, lacking spans, rendering, paging."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.digests.reading import HistoryPager, lacking_spans
from bot.digests.render import digest_blocks, escape, mention
from bot.digests.schedule import Rule, RuleError, parse_rule
from bot.digests.schema import Digest, Topic
from bot.digests.summarize import transcript
from fakes.slack import FakeSlack
from storage.channel_log import LoggedMessage

BERLIN = ZoneInfo("Europe/Berlin")


def local(ts: float, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.fromtimestamp(ts, zone)


@pytest.mark.parametrize(("start", "first", "second"), [
    # Spring forward (29 Mar 2026, 02:00 CET -> 03:00 CEST): 09:00 local on both sides.
    (datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN), "2026-03-29 09:00 +0200",
     "2026-03-30 09:00 +0200"),
    (datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN), "2026-03-28 09:00 +0100",
     "2026-03-29 09:00 +0200"),
    # Fall back (25 Oct 2026, 03:00 CEST -> 02:00 CET).
    (datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN), "2026-10-25 09:00 +0100",
     "2026-10-26 09:00 +0100"),
    (datetime(2026, 10, 23, 10, 0, tzinfo=BERLIN), "2026-10-24 09:00 +0200",
     "2026-10-25 09:00 +0100"),
])
def test_daily_nine_berlin_is_nine_local_across_dst(start: datetime, first: str,
                                                     second: str) -> None:
    rule = parse_rule("daily", ["09:00", "Europe/Berlin"], "UTC")
    one = rule.next_after(start.timestamp())
    two = rule.next_after(one)
    assert local(one).strftime("%Y-%m-%d %H:%M %z") == first
    assert local(two).strftime("%Y-%m-%d %H:%M %z") == second
    hours = (two - one) / 3600
    assert hours in (23.0, 24.0, 25.0)


def test_weekly_rules_and_their_parsing() -> None:
    rule = parse_rule("weekly", ["WEDNESDAY", "17:30"], "America/New_York")
    assert rule == Rule("weekly", 17, 30, "America/New_York", 2)
    assert rule.cron == "30 17 * * 3" and rule.window_s == 7 * 86_400
    at = rule.next_after(datetime(2026, 12, 2, 18, 0, tzinfo=ZoneInfo(rule.zone)).timestamp())
    assert local(at, ZoneInfo(rule.zone)).strftime("%a %H:%M") == "Wed 17:30"
    assert local(at, ZoneInfo(rule.zone)).day == 9
    assert parse_rule("weekly", ["sun", "0:05"], "UTC").cron == "5 0 * * 0"
    assert Rule.from_dict(rule.to_dict()) == rule
    for kind, words in [("daily", ["24:00"]), ("daily", ["9"]), ("daily", ["12:60"]),
                        ("daily", ["09:00", "Nowhere/City"]), ("daily", ["09:00", "../etc"]),
                        ("weekly", ["mo", "09:00"]), ("weekly", []),
                        ("daily", ["09:00", "UTC", "extra"])]:
        with pytest.raises(RuleError):
            parse_rule(kind, words, "UTC")


def test_lacking_spans_cover_before_recording_and_gaps() -> None:
    assert lacking_spans(None, [], 0, 100) == [(0, 100)]
    assert lacking_spans(50, [], 0, 100) == [(0, 50)]
    assert lacking_spans(10, [(20, 30), (25, 40), (90, 200)], 0, 100) == [
        (0, 10), (20, 40), (90, 100)]
    assert lacking_spans(0, [(120, 130)], 10, 100) == []
    assert lacking_spans(200, [], 0, 100) == [(0, 100)]


def test_rendering_escapes_text_keeps_mentions_and_splits_long_sections() -> None:
    assert escape("a <b> & <@U1X>") == "a &lt;b&gt; &amp; <@U1X>"
    assert mention("U2") == "<@U2>" and mention("<@U2>") == "<@U2>"
    assert mention("Bob <script>") == "Bob &lt;script&gt;"
    topics = [Topic(title=f"t{i}", summary="x" * 400, sources=[f"{i}.000001"])
              for i in range(30)]
    text, blocks = digest_blocks("Title", "ctx", Digest(topics=topics), None,
                                 {"3.000001": "https://x/p3"})
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) > 1 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert "<https://x/p3|[1]>" in "".join(b["text"]["text"] for b in sections)
    assert text.startswith("Title")
    _, blocks = digest_blocks("T", "c", Digest(), None, {})
    assert "Nothing stood out" in blocks[-1]["text"]["text"]


def test_transcript_marks_threads_and_keeps_newest_within_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    msgs = [LoggedMessage(f"{1000 + i}.000000", "U1", f"message {i}") for i in range(5)]
    msgs.append(LoggedMessage("1006.000000", "U2", "a reply", "1000.000000"))
    out = transcript(msgs)
    assert out.splitlines()[-1] == "[1006.000000] <@U2> ↳ in thread [1000.000000] a reply"
    monkeypatch.setattr("bot.digests.summarize.MAX_INPUT_CHARS", 90)
    short = transcript(msgs).splitlines()
    assert short[0].startswith("(… ") and short[-1].endswith("a reply")


@pytest.fixture
async def restricted_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    fake.add_user("U1")
    fake.add_channel("C1")
    fake.history_mode = "restricted"  # 15 messages a page, 1 request a minute
    try:
        yield fake
    finally:
        await fake.stop()


async def test_history_paging_keeps_the_cursor_and_waits_out_each_429(
        restricted_slack: FakeSlack) -> None:
    slack = restricted_slack
    stamps = [slack.post_user_message("C1", user="U1", text=f"m{i}") for i in range(40)]
    parent = stamps[5]
    for i in range(3):
        slack.post_user_message("C1", user="U1", text=f"reply {i}", thread_ts=parent)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # a minute passes on Slack's clock
        waits.append(seconds)
        slack.advance(seconds)
        await asyncio.sleep(0)

    pager = HistoryPager(AsyncWebClient(token=slack.bot_token, base_url=slack.api_url), "C1",
                         sleep)
    got = await pager.read(float(stamps[0]) - 1, float(stamps[-1]) + 100)
    assert sorted(m.text for m in got if m.thread_ts is None) == sorted(
        f"m{i}" for i in range(40))
    assert [m.text for m in got if m.thread_ts == parent] == ["reply 0", "reply 1", "reply 2"]
    history = slack.calls_to("conversations.history")
    pages = [c for c in history if c.ok]
    assert len(pages) == 3, "40 messages in 15-message pages"
    assert [bool(c.args.get("cursor")) for c in pages] == [False, True, True]
    refused = [c for c in history if not c.ok]
    assert len(refused) == 2 and all(c.status == 429 for c in refused)
    # Each refused page was asked again with the same cursor after Retry-After.
    for bad in refused:
        retry = next(c for c in history if c.at > bad.at)
        assert retry.args.get("cursor") == bad.args.get("cursor")
    assert len(waits) == 2 and all(0 < w <= 60 for w in waits)  # limits are per method
    times = [c.at for c in pages]
    assert all(b - a >= 59 for a, b in itertools.pairwise(times)), "never parallel"
    assert len(slack.calls_to("conversations.replies")) == 1
