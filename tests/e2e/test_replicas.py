"""Three bot processes on one Redis, deliveries spread and redelivered across them."""

from __future__ import annotations

import asyncio
import random

from fakes.gemini import FakeGemini
from fakes.slack import FakeSlack
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import bot_replies
from tests.support.harness import RunningBot, input_text, wait_until

THREADS = 6
REPLIES = 2


async def test_three_replicas_answer_every_message_once_in_order_and_chained(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    rng = random.Random(9)
    slack.rate_limits = False  # exactly-once is the point here, not Slack's per-channel pacing
    bots = [await make_bot() for _ in range(3)]
    later: list[asyncio.Task[object]] = []

    async def deliver(first: RunningBot, event: dict[str, object],
                      as_message: dict[str, object] | None = None) -> None:
        """Deliver to one replica; 30 % also to another (now or a bit later); a mention
        also arrives as its `message` event on yet another replica."""
        status, *_ = await first.send(event)
        assert status == 200
        others = [b for b in bots if b is not first]
        if rng.random() < 0.3:
            again = rng.choice(others)
            if rng.random() < 0.5:
                await again.send(event)
            else:
                later.append(asyncio.ensure_future(_after(0.3, again.send(event))))
        if as_message is not None:
            await rng.choice(others).send(as_message)

    threads: list[str] = []
    for t in range(THREADS):
        text = f"<@UBOT> t{t} m0"
        ts = slack.post_user_message("C1", user="U1", text=text)
        bot = rng.choice(bots)
        await deliver(bot, bot.sender.app_mention("C1", "U1", text, ts))
        threads.append(ts)
    for r in range(1, REPLIES + 1):
        for t, thread in enumerate(threads):
            text = f"<@UBOT> t{t} m{r}"  # a mention in the thread: app_mention + message
            ts = slack.post_user_message("C1", user="U1", text=text, thread_ts=thread)
            bot = rng.choice(bots)
            await deliver(bot, bot.sender.app_mention("C1", "U1", text, ts, thread_ts=thread),
                          as_message=bot.sender.message("C1", "U1", text, ts,
                                                        thread_ts=thread))

    def expected(t: int) -> list[str]:
        return [f"echo: <@U1>: t{t} m{r}" for r in range(REPLIES + 1)]

    await wait_until(lambda: all(bot_replies(slack, "C1", ts) == expected(t)
                                 for t, ts in enumerate(threads)), timeout=40,
                     message="every message answered once, in order")
    await asyncio.gather(*later)
    for bot in bots:
        await bot.settle()
    assert all(bot_replies(slack, "C1", ts) == expected(t) for t, ts in enumerate(threads))
    assert len(gemini.creates) == THREADS * (REPLIES + 1), "no message answered twice"
    suppressed = sum(b.services.metrics.duplicates._value.get() for b in bots)
    assert suppressed > THREADS * REPLIES, "message copies and redeliveries were suppressed"
    ids = list(gemini.interactions)
    by_input = {input_text(c): (c.get("previous_interaction_id"), ids[i])
                for i, c in enumerate(gemini.creates)}
    for t in range(THREADS):
        chain = [by_input[next(k for k in by_input if f"t{t} m{r}" in k)]
                 for r in range(REPLIES + 1)]
        assert chain[0][0] is None
        for r in range(1, REPLIES + 1):
            assert chain[r][0] == chain[r - 1][1], f"thread {t} turn {r} chains to turn {r-1}"


async def _after(seconds: float, coro: object) -> object:
    await asyncio.sleep(seconds)
    return await coro  # type: ignore[misc]
