"""Agent result threads: held replies, continuation, mention forms, shortcut, run_agent."""

from __future__ import annotations

from fakes.gemini import FakeGemini, FunctionCall, Reply
from fakes.slack import FakeSlack
from tests.e2e.conftest import BotFactory
from tests.e2e.test_agents import (
    AGENT,
    FAST,
    agent_creates,
    cards,
    result_parts,
    start_by_command,
    thread_replies,
)
from tests.e2e.test_threads import mention, reply
from tests.support.harness import input_text, wait_until

MODEL = "gemini-3.5-flash"


def texts(slack: FakeSlack, thread_ts: str) -> list[str]:
    """The result parts' visible text in a thread, oldest first."""
    return [m.visible for m in result_parts(slack, thread_ts)]


async def test_replies_while_running_are_held_then_answered_in_order_chained(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="v1 is written", background_s=1.5), model=AGENT)
    gemini.queue(Reply(text="tests added", background_polls=1), model=AGENT)
    gemini.queue(Reply(text="docs added", background_polls=1), model=AGENT)
    card = await start_by_command(slack, bot, "agent write the parser")
    await wait_until(lambda: "Running" in cards(slack)[-1].visible, message="Running")
    await reply(slack, bot, "now add tests", card.ts)
    await reply(slack, bot, "and docs please", card.ts, user="U2")
    await wait_until(lambda: sum("Queued" in m.visible for m in thread_replies(slack, card.ts))
                     == 2, message="both replies held")
    assert len(agent_creates(gemini)) == 1, "nothing is answered before the result"
    await wait_until(lambda: len(result_parts(slack, card.ts)) == 3, timeout=20,
                     message="three results")
    first, second, third = texts(slack, card.ts)
    assert first.startswith("<@U1> Here is the result") and "v1 is written" in first
    assert second.startswith("<@U1> Here is the result") and "tests added" in second
    assert third.startswith("<@U2> Here is the result") and "docs added" in third
    bodies = agent_creates(gemini)
    ids = list(gemini.interactions)
    env = gemini.interactions[ids[0]]["environment_id"]
    assert [b.get("previous_interaction_id") for b in bodies] == [None, ids[0], ids[1]]
    assert [b.get("environment") for b in bodies] == ["remote", env, env]
    assert [input_text(b) for b in bodies] == ["write the parser", "now add tests",
                                               "and docs please"]
    assert not any("Queued" in m.visible for m in thread_replies(slack, card.ts))


async def test_reply_after_the_result_continues_with_the_same_agent(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="fib.txt written", background_polls=1), model=AGENT)
    gemini.queue(Reply(text="0 1 1 2 3", background_polls=1), model=AGENT)
    card = await start_by_command(slack, bot, "agent write fib.txt")
    await wait_until(lambda: result_parts(slack, card.ts), timeout=15, message="result")
    await reply(slack, bot, "print the file", card.ts)
    await wait_until(lambda: len(result_parts(slack, card.ts)) == 2, timeout=15,
                     message="continued")
    assert "0 1 1 2 3" in texts(slack, card.ts)[1]
    _, second = agent_creates(gemini)
    first_id = next(iter(gemini.interactions))
    assert second["previous_interaction_id"] == first_id
    assert second["environment"] == gemini.interactions[first_id]["environment_id"]
    assert second["agent"] == AGENT


async def test_mention_forms_start_a_run_and_list_my_runs(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="release notes drafted", background_polls=1), model=AGENT)
    ts = await mention(slack, bot, "agent: draft the release notes")
    await wait_until(lambda: result_parts(slack, ts), timeout=15, message="result in thread")
    assert "release notes drafted" in texts(slack, ts)[0]
    assert input_text(agent_creates(gemini)[0]) == "draft the release notes"
    await wait_until(lambda: "Done" in thread_replies(slack, ts)[0].visible, message="card Done")
    assert "draft the release notes" in thread_replies(slack, ts)[0].visible
    listing_ts = await mention(slack, bot, "list my agents")
    await wait_until(lambda: any("Your agent runs" in m.visible
                                 for m in thread_replies(slack, listing_ts)), message="listing")
    listing = next(m for m in thread_replies(slack, listing_ts) if "Your agent runs" in m.visible)
    assert "done" in listing.visible and "draft the release notes" in listing.visible
    assert "fake-team.slack.com/archives/C1" in str(listing.blocks)
    await bot.sender.send_command("/gemini", "agents", user_id="U2")
    await wait_until(lambda: slack.ephemerals("C1", "U2"), message="bob's listing")
    assert "no agent runs yet" in slack.ephemerals("C1", "U2")[0].visible
    assert len(agent_creates(gemini)) == 1


async def test_message_shortcut_runs_the_message_as_a_task_in_its_thread(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(text="summary: all good", background_polls=1), model=AGENT)
    ts = slack.post_user_message("C1", user="U2", text="Please summarise the Q3 numbers")
    payload = bot.sender.message_shortcut("run_as_agent_task", user_id="U1", message_ts=ts,
                                          text="Please summarise the Q3 numbers",
                                          message_user="U2")
    assert (await bot.sender.send_action(payload)).status == 200
    await wait_until(lambda: result_parts(slack, ts), timeout=15, message="result")
    assert texts(slack, ts)[0].startswith("<@U1> Here is the result")
    assert input_text(agent_creates(gemini)[0]) == "Please summarise the Q3 numbers"


async def test_model_hands_work_to_an_agent_with_run_agent(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST)
    gemini.queue(Reply(function_calls=[FunctionCall("run_agent", {"task": "crunch the logs"})]),
                 model=MODEL)
    gemini.queue(Reply(text="I've asked an agent; its result will appear in this thread."),
                 model=MODEL)
    gemini.queue(Reply(text="logs crunched: 3 errors", background_polls=1), model=AGENT)
    ts = await mention(slack, bot, "go through yesterday's logs, take your time")
    await wait_until(lambda: result_parts(slack, ts), timeout=15, message="agent result")
    await wait_until(lambda: any("its result will appear in this thread" in m.visible
                                 for m in thread_replies(slack, ts)), message="model's answer")
    assert "logs crunched: 3 errors" in texts(slack, ts)[0]
    assert texts(slack, ts)[0].startswith("<@U1>")
    tools = gemini.creates[0]["tools"]
    assert any(t.get("name") == "run_agent" for t in tools)
    assert input_text(agent_creates(gemini)[0]) == "crunch the logs"
