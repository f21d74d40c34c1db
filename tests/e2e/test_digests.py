"""`/gemini digest …` and `/gemini catchup` through the real Bolt app against the fakes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from tests.support.harness import RunningBot, input_text, wait_until

CHAT = "gemini-3.5-flash"


def digest_posts(slack: FakeSlack, channel: str = "C1") -> list[Any]:
    """The digest messages the bot posted in the channel, oldest first."""
    return [m for m in sorted(slack.messages[channel].values(), key=lambda m: m.ts)
            if m.bot_id and not m.deleted and (m.metadata or {}).get("event_type")
            == "gemini_digest"]


def blocks_text(msg: Any) -> str:
    """Everything the digest's blocks say, as one string."""
    return json.dumps(msg.blocks, ensure_ascii=False)


def structured(**parts: Any) -> Reply:
    """A scripted model answer for the digest schema."""
    body = {"topics": [], "decisions": [], "action_items": [], "open_questions": [], **parts}
    return Reply(text=json.dumps(body))


def say(slack: FakeSlack, user: str, text: str, channel: str = "C1", **kw: Any) -> str:
    return slack.post_user_message(channel, user=user, text=text, **kw)


async def command(slack: FakeSlack, bot: RunningBot, text: str, channel: str = "C1",
                  user: str = "U1") -> None:
    delivery = await bot.sender.send_command("/gemini", text, channel_id=channel, user_id=user,
                                             response_url=slack.new_response_url(channel, user))
    assert delivery.status == 200 and delivery.elapsed_s < 3


async def private_reply(slack: FakeSlack, channel: str = "C1", user: str = "U1",
                        count: int = 1) -> str:
    await wait_until(lambda: len(slack.ephemerals(channel, user)) >= count,
                     message="private reply")
    return slack.ephemerals(channel, user)[count - 1].visible


async def test_digest_now_posts_structured_digest_with_permalinks_and_mentions(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    plan = say(slack, "U1", "Let's ship the release on Friday")
    agree = say(slack, "U2", "Agreed, Friday it is. I'll write the notes by Thursday")
    ask = say(slack, "U2", "Who owns the rollback plan?")
    gemini.queue(structured(
        topics=[{"title": "Release", "summary": "Shipping Friday", "sources": [plan, agree]}],
        decisions=[{"text": "Release on Friday", "sources": [agree]}],
        action_items=[{"task": "Write release notes", "owner": "U2", "due": "Thursday",
                       "sources": [agree]}],
        open_questions=[{"question": "Who owns the rollback plan?",
                         "sources": [ask, "1.000001"]}]))
    await command(slack, bot, "digest now")
    await wait_until(lambda: digest_posts(slack), message="digest post")
    [post] = digest_posts(slack)
    shown = blocks_text(post)
    assert post.blocks[0]["type"] == "header" and "Channel digest" in shown
    assert "3 messages from 2 people" in shown
    for words in ("Release", "Shipping Friday", "Release on Friday", "Write release notes",
                  "<@U2>", "due Thursday", "Who owns the rollback plan?"):
        assert words in shown, words
    link = f"https://fake-team.slack.com/archives/C1/p{agree.replace('.', '')}"
    assert f"<{link}|[1]>" in shown
    assert "1.000001" not in shown, "an invented source is dropped"
    [create] = gemini.creates
    fmt = create["response_format"]
    assert fmt["type"] == "text" and fmt["mime_type"] == "application/json"
    assert set(fmt["schema"]["properties"]) == {"topics", "decisions", "action_items",
                                                "open_questions"}
    said = input_text(create)
    assert f"[{plan}] <@U1> Let's ship the release on Friday" in said
    assert len(slack.calls_to("conversations.history")) == 1  # no schedule: history read
    assert not slack.ephemerals("C1", "U1")


async def test_quiet_channel_gets_no_model_call_and_a_private_note(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.post_user_message("C1", user="U1", text="old", ts="1700000000.000100")
    await command(slack, bot, "digest now 7d")
    assert "Nothing to digest" in await private_reply(slack)
    assert "last 7 days" in slack.ephemerals("C1", "U1")[0].visible
    assert not gemini.creates and not digest_posts(slack)


async def test_invalid_json_is_retried_once_then_plain_text(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    say(slack, "U1", "we need more coffee")
    gemini.queue(Reply(text='{"topics": [', malformed_json=True))
    gemini.queue(structured(topics=[{"title": "Coffee", "summary": "More needed",
                                     "sources": []}]))
    await command(slack, bot, "digest now")
    await wait_until(lambda: digest_posts(slack), message="digest after retry")
    assert "More needed" in blocks_text(digest_posts(slack)[0])
    assert len(gemini.creates) == 2
    gemini.queue(Reply(text="not json", malformed_json=True))
    gemini.queue(Reply(text='{"topics": "nope"}', malformed_json=True))
    gemini.queue(Reply(text="People want more coffee."))
    await command(slack, bot, "digest now")
    await wait_until(lambda: len(digest_posts(slack)) == 2, message="plain-text digest")
    assert "People want more coffee." in blocks_text(digest_posts(slack)[1])
    fallback = gemini.creates[-1]
    assert "response_format" not in fallback and len(gemini.creates) == 5


async def test_bad_digest_commands_name_the_problem_and_schedule_nothing(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    cases = {
        "digest daily 25:00": "`25:00` is not a time of day",
        "digest daily 09:00 Mars/Phobos": "`Mars/Phobos` is not a known time zone",
        "digest weekly funday 09:00": "`funday` is not a weekday",
        "digest weekly 09:00": "is not a weekday",
        "digest daily": "expected a time",
        "digest now 3d": "`3d` is not a digest window",
        "digest": "Say what to do",
        "digest sometimes": "`sometimes` is not a digest command",
        "catchup now": "takes no arguments",
    }
    for n, (text, expected) in enumerate(cases.items(), 1):
        await command(slack, bot, text)
        shown = await private_reply(slack, count=n)
        assert expected in shown, (text, shown)
    assert "`/gemini digest daily HH:MM [zone]`" in slack.ephemerals("C1", "U1")[-2].visible
    store = bot.services.store
    assert await store.jobs.count() == 0
    assert await store.records.index_list("digest_schedules:T1") == []
    assert not gemini.creates and not digest_posts(slack)


async def test_schedule_list_replace_and_off(slack: FakeSlack, gemini: FakeGemini,
                                             bot: RunningBot) -> None:
    slack.users["U1"].tz = "Asia/Tokyo"
    slack.add_channel("C2", name="random", is_member=False)
    await command(slack, bot, "digest daily 09:00 Europe/Berlin")
    assert "daily at 09:00 (Europe/Berlin)" in await private_reply(slack)
    await command(slack, bot, "digest weekly Mon 17:30", channel="C2")
    shown = await private_reply(slack, "C2")
    assert "weekly on Monday at 17:30 (Asia/Tokyo)" in shown, "the asker's Slack time zone"
    assert slack.channels["C2"].is_member, "joined the public channel to post there"
    await command(slack, bot, "digest list")
    listing = await private_reply(slack, count=2)
    assert "<#C1> — daily at 09:00 (Europe/Berlin) — next:" in listing
    assert "<#C2> — weekly on Monday at 17:30 (Asia/Tokyo)" in listing
    assert "JST (your time)" in listing
    await command(slack, bot, "digest weekly friday 08:00 UTC")  # replaces C1's schedule
    assert "weekly on Friday at 08:00 (UTC)" in await private_reply(slack, count=3)
    store = bot.services.store
    assert sorted(await store.records.index_list("digest_schedules:T1")) == ["C1", "C2"]
    job = await store.jobs.get("digest:T1:C1")
    assert job is not None and job.data["due"] == job.due_at
    assert (await store.records.get("digest_schedule", "T1:C1"))["rule"]["weekday"] == 4
    await command(slack, bot, "digest off")
    assert "Removed this channel's digest schedule" in await private_reply(slack, count=4)
    assert await store.jobs.get("digest:T1:C1") is None
    assert await store.channel_log.since("T1", "C1") is None
    await command(slack, bot, "digest off")
    assert "has no digest schedule" in await private_reply(slack, count=5)
    assert await store.records.index_list("digest_schedules:T1") == ["C2"]


async def test_schedule_refused_where_the_bot_cannot_post(
        slack: FakeSlack, bot: RunningBot) -> None:
    slack.add_channel("G1", name="secret", is_private=True, is_member=False, members={"U1"})
    await command(slack, bot, "digest daily 09:00 UTC", channel="G1")
    shown = await private_reply(slack, "G1")
    assert "Invite me" in shown and "Nothing was scheduled" in shown
    assert await bot.services.store.jobs.count() == 0


async def recorded_texts(bot: RunningBot, expected: list[tuple[str, str]]) -> None:
    """Wait until the channel record of C1 holds exactly `expected` (user, text) pairs."""
    chlog = bot.services.store.channel_log
    found: list[tuple[str, str]] = []
    for _ in range(200):
        found = [(m.user, m.text) for m in await chlog.between("T1", "C1", 0, 2e9)]
        if found == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"record holds {found}")


async def fire(bot: RunningBot, slack: FakeSlack, at: float, posts: int) -> None:
    """Let the bot's job runner see time `at`; wait for the digest post count and for the job
    to be due again after `at` (the run's outcome applied)."""
    bot.services.jobs.clock = lambda: at
    bot.services.jobs.wake()
    await wait_until(lambda: len(digest_posts(slack)) == posts, message=f"{posts} digests")
    for _ in range(500):
        job = await bot.services.store.jobs.get("digest:T1:C1")
        if job is not None and job.owner is None and job.due_at > at:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the digest job was not rescheduled")


async def test_scheduled_digest_is_built_from_the_record_with_edits_and_deletes(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    before = say(slack, "U2", "said before the schedule existed")
    await command(slack, bot, "digest daily 09:00 UTC")
    await private_reply(slack)
    texts = {"U1": "the build is red", "U2": "I'll fix the build today"}
    stamps = {}
    for user, text in texts.items():
        stamps[user] = say(slack, user, text)
        await bot.send(bot.sender.message("C1", user, text, stamps[user]))
    noise = say(slack, "U1", "typo messsage")
    await bot.send(bot.sender.message("C1", "U1", "typo messsage", noise))
    await bot.send(bot.sender.message_deleted("C1", slack.delete_user_message("C1", noise)))
    previous = slack.edit_user_message("C1", stamps["U1"], "the build is red again")
    await bot.send(bot.sender.message_changed("C1", previous, "the build is red again"))
    await recorded_texts(bot, [("U1", "the build is red again"),
                               ("U2", "I'll fix the build today")])
    job = await bot.services.store.jobs.get("digest:T1:C1")
    assert job is not None
    gemini.queue(structured(action_items=[{"task": "Fix the build", "owner": "U2",
                                           "due": "today", "sources": [stamps["U2"]]}]))
    await fire(bot, slack, job.due_at + 5, posts=1)
    post = digest_posts(slack)[0]
    assert "Daily digest" in blocks_text(post) and "Fix the build" in blocks_text(post)
    said = input_text(gemini.creates[0])
    assert "the build is red again" in said and "typo" not in said
    assert "said before the schedule existed" in said
    # Only the stretch before recording began came from history (one page).
    since = await bot.services.store.channel_log.since("T1", "C1")
    [read] = slack.calls_to("conversations.history")
    assert float(read.args["latest"]) == pytest.approx(since, abs=1e-5)
    assert float(before) < since
    run = await bot.services.store.records.get("digest_run", f"T1:C1:{int(job.due_at)}")
    assert run is not None and run["status"] == "posted" and run["ts"] == post.ts
    nxt = await bot.services.store.jobs.get("digest:T1:C1")
    assert nxt is not None and nxt.data["due"] == job.due_at + 86_400
    # The next period is built from the record alone: zero history reads.
    later = say(slack, "U2", "the build is green", ts=f"{job.due_at + 3600:.6f}")
    await bot.send(bot.sender.message("C1", "U2", "the build is green", later))
    await recorded_texts(bot, [("U1", "the build is red again"),
                               ("U2", "I'll fix the build today"), ("U2", "the build is green")])
    await fire(bot, slack, nxt.due_at + 5, posts=2)
    assert len(slack.calls_to("conversations.history")) == 1, "no history read"
    assert "the build is green" in input_text(gemini.creates[1])


async def test_catchup_summarises_only_since_the_askers_last_message(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    say(slack, "U2", "before you wrote")
    say(slack, "U1", "my last word")
    after = say(slack, "U2", "the deploy moved to Monday")
    gemini.queue(structured(topics=[{"title": "Deploy", "summary": "Moved to Monday",
                                     "sources": [after]}]))
    await command(slack, bot, "catchup")
    shown = await private_reply(slack)
    reply = slack.ephemerals("C1", "U1")[0]
    assert "Moved to Monday" in json.dumps(reply.blocks) or "Moved to Monday" in shown
    said = input_text(gemini.creates[0])
    assert "the deploy moved to Monday" in said and "before you wrote" not in said
    assert "since your last message" in json.dumps(reply.blocks)
    assert not digest_posts(slack), "catchup is private"


async def test_catchup_where_nothing_is_new_or_the_bot_cannot_read(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    say(slack, "U2", "earlier")
    say(slack, "U1", "my message is the last one")
    await command(slack, bot, "catchup")
    assert "all caught up" in await private_reply(slack)
    slack.add_channel("G1", name="secret", is_private=True, is_member=False, members={"U1"})
    await command(slack, bot, "catchup", channel="G1")
    assert "Invite me" in await private_reply(slack, "G1")
    await command(slack, bot, "digest now", channel="G1")
    assert "Invite me" in await private_reply(slack, "G1", count=2)
    assert not gemini.creates


async def test_model_failure_is_told_privately(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    say(slack, "U2", "something happened")
    gemini.fail_next(times=2, status=500)
    await command(slack, bot, "digest now")
    assert "Gemini had an internal error" in await private_reply(slack)
    assert not digest_posts(slack)


async def test_history_reads_of_two_digests_do_not_overlap(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.add_channel("C2", name="random")
    say(slack, "U1", "in general")
    say(slack, "U2", "in random", channel="C2")
    slack.delay_next("conversations.history", 0.4, times=2)
    await command(slack, bot, "digest now")
    await command(slack, bot, "digest now", channel="C2")
    await wait_until(lambda: digest_posts(slack) and digest_posts(slack, "C2"),
                     message="both digests")
    first, second = slack.calls_to("conversations.history")
    assert second.at - first.at >= 0.4, "the second read waited for the first"
