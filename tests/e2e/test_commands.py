"""`/gemini` through the real Bolt app: acked at once, help and unknown words answered privately."""

from __future__ import annotations

from fakes.slack import FakeSlack
from tests.support.harness import RunningBot, wait_until


async def test_gemini_alone_shows_usage_only_to_the_asker(slack: FakeSlack,
                                                          bot: RunningBot) -> None:
    url = slack.new_response_url("C1", "U1")
    delivery = await bot.sender.send_command("/gemini", "", response_url=url)
    assert delivery.status == 200
    await wait_until(lambda: slack.ephemerals("C1", "U1"), message="usage reply")
    [reply] = slack.ephemerals("C1", "U1")
    assert "/gemini help" in reply.visible
    assert not slack.calls_to("chat.postMessage")  # nothing posted in the channel


async def test_help_falls_back_to_post_ephemeral_without_a_response_url(
    slack: FakeSlack, bot: RunningBot,
) -> None:
    await bot.sender.send_command("/gemini", "help")
    await wait_until(lambda: slack.ephemerals("C1", "U1"), message="usage reply")
    assert "Usage" in slack.ephemerals("C1", "U1")[0].visible
    assert slack.calls_to("chat.postEphemeral")
