"""ROLE=web acks, claims and queues; ROLE=worker answers: together they behave as one bot."""

from __future__ import annotations

from fakes.gemini import FakeGemini, Reply
from fakes.slack import FakeSlack
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import bot_replies, mention, reply
from tests.support.harness import wait_until


async def test_web_process_queues_and_a_worker_answers_in_order(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    web = await make_bot(role="web")
    worker = await make_bot(role="worker")
    gemini.queue(Reply(text="first answer", chunk_size=4, delay_s=0.05))
    ts = await mention(slack, web, "one")
    await reply(slack, web, "two", ts)
    await reply(slack, web, "three", ts)
    await wait_until(lambda: bot_replies(slack, "C1", ts) == [
        "first answer", "echo: <@U1>: two", "echo: <@U1>: three"], timeout=15,
        message="all three answered in order")
    await worker.settle()
    answered = worker.services.metrics.turns.labels("answered")._value.get()
    assert answered == 3, "the worker answered every turn"
    assert web.services.metrics.turns.labels("answered")._value.get() == 0
    chain = [c.get("previous_interaction_id") for c in gemini.creates]
    ids = list(gemini.interactions)
    assert chain == [None, ids[0], ids[1]], "turns chained in order across processes"


async def test_two_workers_answer_each_message_once(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    web = await make_bot(role="web")
    workers = [await make_bot(role="worker") for _ in range(2)]
    threads = [await mention(slack, web, f"q{i}") for i in range(6)]
    await wait_until(lambda: all(bot_replies(slack, "C1", ts) == [f"echo: <@U1>: q{i}"]
                                 for i, ts in enumerate(threads)), timeout=20)
    for bot in workers:
        await bot.settle()
    assert len(gemini.creates) == 6
    assert all(bot_replies(slack, "C1", ts) == [f"echo: <@U1>: q{i}"]
               for i, ts in enumerate(threads))
