"""Background agent runs through the real Bolt app: card, polling, result once, cancel, threads."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fakes.gemini import Citation, FakeGemini, Reply
from fakes.slack import FakeSlack
from fakes.slack.view import VisibleMessage
from storage import MemoryStore
from tests.e2e.conftest import BotFactory
from tests.support.harness import RunningBot, wait_until

AGENT = "antigravity-preview-05-2026"
RESEARCH = "deep-research-preview-04-2026"
FAST = {"agent_poll_min_s": 0.1, "agent_poll_max_s": 0.3}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)


def root_messages(slack: FakeSlack, channel: str = "C1") -> list[VisibleMessage]:
    """Top-level messages in a channel, oldest first."""
    msgs = [m for m in slack.messages.get(channel, {}).values()
            if not m.deleted and (m.thread_ts is None or m.thread_ts == m.ts)]
    return [slack.visible_thread(channel, m.ts)[0] for m in sorted(msgs, key=lambda m: m.ts)]


def cards(slack: FakeSlack, channel: str = "C1") -> list[VisibleMessage]:
    """The bot's root messages (status cards)."""
    return [m for m in root_messages(slack, channel) if m.bot_id]


def thread_replies(slack: FakeSlack, thread_ts: str, channel: str = "C1") -> list[VisibleMessage]:
    """Replies in a thread (without the parent)."""
    return slack.visible_thread(channel, thread_ts)[1:]


def result_parts(slack: FakeSlack, thread_ts: str, channel: str = "C1") -> list[VisibleMessage]:
    """The result messages a run posted in its thread."""
    return [m for m in thread_replies(slack, thread_ts, channel)
            if (m.metadata or {}).get("event_type") == "gemini_agent_result"]


def agent_creates(gemini: FakeGemini) -> list[dict[str, Any]]:
    """Create bodies that started agent runs."""
    return [b for b in gemini.creates if isinstance(b, dict) and b.get("agent")]


async def start_by_command(slack: FakeSlack, bot: RunningBot, text: str,
                           user: str = "U1") -> VisibleMessage:
    """Run `/gemini <text>` and return the card it posts."""
    before = len(cards(slack))
    delivery = await bot.sender.send_command("/gemini", text, user_id=user)
    assert delivery.status == 200
    await wait_until(lambda: len(cards(slack)) > before, message="the status card")
    return cards(slack)[-1]


async def test_agent_command_posts_card_then_the_result_once(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="Here are the **first 20** Fibonacci numbers: 0, 1, 1, 2",
                       citations=[Citation(url="https://example.com/fib", title="Fib")],
                       image=PNG, background_s=0.6), model=AGENT)
    card = await start_by_command(slack, bot, "agent write fib.py and run it")
    assert "from <@U1>" in card.visible and "write fib.py and run it" in card.visible
    await wait_until(lambda: "Running" in cards(slack)[-1].visible, message="Running")
    assert "agent_cancel" in cards(slack)[-1].buttons
    # Everything needed to finish the run is in Redis by the time the card says Running.
    record = await bot.services.store.records.get("agent_run", card_run_id(card))
    assert record is not None and record["interaction_id"] in gemini.interactions
    assert (record["channel"], record["card_ts"], record["asker"]) == ("C1", card.ts, "U1")
    assert record["deadline"] > record["created_at"] and record["next_poll_at"]
    await wait_until(lambda: "Done" in cards(slack)[-1].visible, timeout=15, message="Done")
    [body] = agent_creates(gemini)
    assert (body["agent"], body["environment"], body["background"]) == (AGENT, "remote", True)
    assert "generation_config" not in body and "model" not in body
    [part] = result_parts(slack, card.ts)
    assert part.visible.startswith("<@U1> Here is the result of your agent task")
    assert "first 20" in part.visible and "example.com/fib" in part.visible
    files = [f for m in thread_replies(slack, card.ts) for f in m.files]
    assert [f["name"] for f in files] == [f"agent-{_run_id(part)}-1.png"]
    done = cards(slack)[-1]
    assert "See the result" in done.visible and not done.buttons
    interaction = next(iter(gemini.interactions))
    polls = gemini.polls(interaction)
    assert 1 <= len(polls) <= 12, "one GET per interval, no busy loop"
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert all(gap >= 0.08 for gap in gaps)


def _run_id(part: VisibleMessage) -> str:
    return str((part.metadata or {})["event_payload"]["run_id"])


async def test_research_failure_says_why_in_words(slack: FakeSlack, gemini: FakeGemini,
                                                  make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(error_event={"code": "internal", "message": "the sources were offline"},
                       background_polls=1), model=RESEARCH)
    card = await start_by_command(slack, bot, "research why is the sky blue")
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="failure note")
    [part] = result_parts(slack, card.ts)
    assert part.visible == "<@U1> Your research task failed: the sources were offline"
    assert "environment" not in agent_creates(gemini)[0]
    await wait_until(lambda: "Failed" in cards(slack)[-1].visible, message="card shows Failed")


async def test_agent_without_task_or_disabled_is_explained_privately(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot()
    await bot.sender.send_command("/gemini", "agent")
    await wait_until(lambda: slack.ephemerals("C1", "U1"), message="usage")
    assert "Tell me what to do" in slack.ephemerals("C1", "U1")[0].visible
    off = await make_bot(agents_enabled=False)
    await off.sender.send_command("/gemini", "agent do it")
    await wait_until(lambda: len(slack.ephemerals("C1", "U1")) == 2, message="disabled note")
    assert "AGENTS_ENABLED" in slack.ephemerals("C1", "U1")[1].visible
    assert not agent_creates(gemini) and not cards(slack)


def card_run_id(card: VisibleMessage) -> str:
    """The run id the card's Cancel button carries."""
    for block in card.blocks or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == "agent_cancel":
                return str(element["value"])
    raise AssertionError("the card has no Cancel button")


async def click_cancel(bot: RunningBot, card: VisibleMessage, user: str) -> None:
    """Press Cancel on a card as `user`."""
    payload = bot.sender.block_action("agent_cancel", card_run_id(card), user_id=user,
                                      message_ts=card.ts)
    assert (await bot.sender.send_action(payload)).status == 200


async def test_cancel_only_by_asker_or_admin_from_any_process(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    slack.add_user("U3", name="carol", is_admin=True)
    first = await make_bot(**FAST)
    second = await make_bot(**FAST)
    gemini.queue(Reply(text="never shown", background_s=60), model=AGENT)
    card = await start_by_command(slack, first, "agent index the wiki")
    await wait_until(lambda: "Running" in cards(slack)[-1].visible, message="Running")
    await click_cancel(second, cards(slack)[-1], "U2")  # bob did not ask and is no admin
    await wait_until(lambda: slack.ephemerals("C1", "U2"), message="refusal")
    assert "Only <@U1>" in slack.ephemerals("C1", "U2")[0].visible
    assert "Running" in cards(slack)[-1].visible
    await click_cancel(second, cards(slack)[-1], "U3")  # carol is an admin
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="cancel note")
    [part] = result_parts(slack, card.ts)
    assert part.visible == "<@U1> Your agent task was cancelled by <@U3>."
    final = cards(slack)[-1]
    assert "Cancelled" in final.visible and "cancelled by <@U3>" in final.visible
    assert not final.buttons
    [interaction] = gemini.interactions.values()
    assert interaction["status"] == "cancelled"
    cancels = [r for r in gemini.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1


async def test_run_past_its_deadline_is_cancelled_with_a_message(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST, agent_max_runtime_s=1.0)
    gemini.queue(Reply(text="too slow", background_s=60), model=AGENT)
    card = await start_by_command(slack, bot, "agent boil the ocean")
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="expiry note")
    [part] = result_parts(slack, card.ts)
    assert "was still running after 1 s" in part.visible and "cancelled" in part.visible
    assert "AGENT_MAX_RUNTIME_S" in part.visible
    [interaction] = gemini.interactions.values()
    assert interaction["status"] == "cancelled"
    await wait_until(lambda: "ran too long" in cards(slack)[-1].visible, message="card")


async def test_poll_errors_are_retried_and_404_is_explained(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="worth the wait", background_s=0.5), model=AGENT)
    card = await start_by_command(slack, bot, "agent survive flaky polls")
    await wait_until(lambda: "Running" in cards(slack)[-1].visible, message="Running")
    gemini.fail_next_gets(3, status=503)
    gemini.fail_next_gets(1, status=429, retry_after=0.1)
    await wait_until(lambda: result_parts(slack, card.ts), timeout=30, message="result")
    [part] = result_parts(slack, card.ts)
    assert "worth the wait" in part.visible
    assert not gemini.get_failures
    # A run Gemini has forgotten (404) ends with a clear message instead of polling forever.
    gemini.queue(Reply(text="lost", background_s=60), model=AGENT)
    lost = await start_by_command(slack, bot, "agent get lost")
    await wait_until(lambda: len(gemini.interactions) == 2, message="second run")
    gone = next(i for i, rec in gemini.interactions.items() if rec["status"] == "in_progress")
    gemini.forget(gone)
    await wait_until(lambda: result_parts(slack, lost.ts), timeout=15, message="404 note")
    [note] = result_parts(slack, lost.ts)
    assert "no longer knows your agent task" in note.visible
    await wait_until(lambda: "Lost" in cards(slack)[-1].visible, message="card shows Lost")


async def test_running_card_is_edited_about_once_a_minute_not_per_poll(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.agents.card.CARD_EDIT_EVERY_S", 0.6)  # "a minute", scaled down
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="slow but done", background_s=2.5), model=AGENT)
    card = await start_by_command(slack, bot, "agent take your time")
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="result")
    polls = len(gemini.polls(next(iter(gemini.interactions))))
    edits = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == card.ts and c.ok]
    running_edits = [c for c in edits if "Running" in str(c.args.get("blocks"))]
    assert 2 <= len(running_edits) <= 6, (len(running_edits), polls)
    assert polls >= len(running_edits) + 2, "cards are edited less often than runs are polled"


async def test_agent_run_on_the_in_process_store(slack: FakeSlack, gemini: FakeGemini,
                                                 make_bot: BotFactory) -> None:
    bot = await make_bot(store=MemoryStore(), **FAST)
    gemini.queue(Reply(text="done in memory", background_polls=1), model=AGENT)
    card = await start_by_command(slack, bot, "agent no redis here")
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="result")
    assert "done in memory" in result_parts(slack, card.ts)[0].visible


async def test_card_slower_than_the_grace_period_leaves_one_card(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.agents.start.START_GRACE_S", 0.3)
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="one card only", background_polls=2), model=AGENT)
    slack.delay_next("chat.postMessage", 1.5)  # the starting process's card hangs in Slack
    await bot.sender.send_command("/gemini", "agent race the grace period")
    await wait_until(lambda: any("Done" in c.visible for c in cards(slack)), timeout=15,
                     message="done")
    await wait_until(lambda: len(cards(slack)) == 1, message="the late card removed")
    [card] = cards(slack)
    assert len(result_parts(slack, card.ts)) == 1
    assert len(agent_creates(gemini)) == 1


async def test_poll_timeout_is_retried_and_does_not_fail_the_run(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST, gemini_timeout_s=0.5)
    gemini.queue(Reply(text="patience pays", background_s=1.0), model=AGENT)
    card = await start_by_command(slack, bot, "agent answer slowly")
    await wait_until(lambda: "Running" in cards(slack)[-1].visible, message="Running")
    gemini.delay_next_gets(1.0)
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="result")
    assert "patience pays" in result_parts(slack, card.ts)[0].visible
    assert not gemini.get_delays
