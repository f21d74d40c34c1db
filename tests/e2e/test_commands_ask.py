"""`/gemini <question>` and `/gemini image <prompt>` through the real Bolt app (HTTP and Socket
Mode): a root message saying who asked, the answer in its thread, replies continuing there."""

from __future__ import annotations

from aiohttp import web

from bot.app import build, connect_socket_mode
from fakes.gemini import FakeGemini, Reply
from fakes.slack import EventSender, FakeSlack
from storage import RedisStore, ThreadKey
from tests.e2e.test_files_and_images import FOX, creates, posted_files
from tests.e2e.test_threads import bot_replies
from tests.support.harness import RunningBot, bot_settings, input_text, wait_until

CHAT, IMAGE = "gemini-3.5-flash", "gemini-3.1-flash-image"


def roots(slack: FakeSlack, channel: str = "C1") -> list[str]:
    """Top-level messages the bot posted in the channel, oldest first."""
    return sorted(m.ts for m in slack.messages[channel].values()
                  if m.bot_id and not m.is_reply and not m.deleted)


async def test_question_gets_a_root_message_and_a_threaded_answer_that_continues(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(text="Paris is the capital."))
    url = slack.new_response_url("C1", "U1")
    delivery = await bot.sender.send_command("/gemini", "what is the capital of France?",
                                             response_url=url)
    assert delivery.status == 200 and delivery.elapsed_s < 3
    await wait_until(lambda: len(roots(slack)) == 1 and bot_replies(slack, "C1", roots(slack)[0])
                     [1:] == ["Paris is the capital."], message="threaded answer")
    [root] = roots(slack)
    assert bot_replies(slack, "C1", root)[0] == (
        ":speech_balloon: <@U1> asked: what is the capital of France?")
    assert input_text(gemini.creates[0]) == "<@U1>: what is the capital of France?"
    # A reply in that thread, without a mention, continues the same conversation.
    gemini.queue(Reply(text="About 2 million people."))
    ts = slack.post_user_message("C1", user="U2", text="and how many live there?",
                                 thread_ts=root)
    await bot.send(bot.sender.message("C1", "U2", "and how many live there?", ts,
                                      thread_ts=root))
    await wait_until(lambda: "About 2 million people." in bot_replies(slack, "C1", root),
                     message="follow-up answer")
    second = gemini.creates[1]
    assert second["previous_interaction_id"] == next(iter(gemini.interactions))
    assert input_text(second) == "<@U2>: and how many live there?"
    assert not slack.ephemerals("C1", "U1")


async def test_image_command_posts_the_image_in_a_new_thread(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(image=FOX), model=IMAGE)
    await bot.sender.send_command("/gemini", "image a red fox",
                                  response_url=slack.new_response_url("C1", "U1"))
    await wait_until(lambda: roots(slack) and posted_files(slack, roots(slack)[0]),
                     message="image in thread")
    [root] = roots(slack)
    assert bot_replies(slack, "C1", root)[0] == (
        ":frame_with_picture: <@U1> asked for an image: a red fox")
    [file] = posted_files(slack, root)
    assert slack.file_content[file["id"]] == FOX
    assert [input_text(b) for b in creates(gemini, IMAGE)] == ["a red fox"]
    assert await bot.services.store.get_thread(ThreadKey("T1", "C1", root)) is not None
    # Replies in the image's thread continue there without a mention, with the thread as context.
    gemini.queue(Reply(text="It is a fox, in red."), model=CHAT)
    ts = slack.post_user_message("C1", user="U1", text="what did you draw?", thread_ts=root)
    await bot.send(bot.sender.message("C1", "U1", "what did you draw?", ts, thread_ts=root))
    await wait_until(lambda: "It is a fox, in red." in bot_replies(slack, "C1", root),
                     message="answer in the image thread")
    [chat] = creates(gemini, CHAT)
    assert "asked for an image: a red fox" in input_text(chat)


async def test_missing_prompt_and_question_are_answered_with_the_right_form(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    for text in ("image", "ask"):
        await bot.sender.send_command("/gemini", text,
                                      response_url=slack.new_response_url("C1", "U1"))
    await wait_until(lambda: len(slack.ephemerals("C1", "U1")) == 2, message="two replies")
    shown = [e.visible for e in slack.ephemerals("C1", "U1")]
    assert any("`/gemini image <prompt>`" in s for s in shown)
    assert any("`/gemini <question>`" in s for s in shown)
    assert not roots(slack) and not gemini.creates


async def test_where_the_bot_cannot_post_it_says_so_and_joins_public_channels(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    slack.add_channel("D9", is_im=True, user="U2")
    slack.channels["D9"].is_member = False  # a DM between two people, not with the bot
    slack.channels["D9"].is_im = False
    slack.channels["D9"].is_mpim = True
    slack.add_channel("G1", name="secret", is_private=True, is_member=False,
                      members={"U1"})
    for channel in ("D9", "G1"):
        gemini.queue(Reply(text=f"**Hello** from {channel}."))
        await bot.sender.send_command("/gemini", "hello?", channel_id=channel,
                                      response_url=slack.new_response_url(channel, "U1"))
        await wait_until(lambda c=channel: slack.ephemerals(c, "U1"), message="private answer")
        shown = slack.ephemerals(channel, "U1")[0].visible
        assert "can't post in this conversation, so only you see this answer" in shown
        assert f"*Hello* from {channel}." in shown
        assert not slack.messages[channel]
    assert len(slack.responses) == 2, "answered through response_url"
    gemini.fail_next(times=2, status=500)
    await bot.sender.send_command("/gemini", "hello again?", channel_id="G1",
                                  response_url=slack.new_response_url("G1", "U1"))
    await wait_until(lambda: len(slack.ephemerals("G1", "U1")) == 2, message="refusal")
    assert "Invite me with `/invite @gemini`" in slack.ephemerals("G1", "U1")[1].visible
    assert not gemini.failures, "both attempts went to Gemini and failed"
    slack.add_channel("C7", name="random", is_member=False)
    gemini.queue(Reply(text="Hi there."))
    await bot.sender.send_command("/gemini", "hello?", channel_id="C7",
                                  response_url=slack.new_response_url("C7", "U1"))
    await wait_until(lambda: roots(slack, "C7") and "Hi there." in bot_replies(
        slack, "C7", roots(slack, "C7")[0]), message="answer after joining")
    assert slack.channels["C7"].is_member
    assert [c.args["channel"] for c in slack.calls_to("conversations.join")] == ["C7"]
    assert [input_text(c) for c in gemini.creates[-1:]] == ["<@U1>: hello?"]


async def test_slash_command_over_socket_mode_is_acked_and_answered(
        slack: FakeSlack, gemini: FakeGemini, redis_flushed: str) -> None:
    settings = bot_settings(slack, gemini, slack_app_token="xapp-test",
                            slack_signing_secret=None)
    _services, web_app = await build(settings, store=RedisStore.from_url(redis_flushed))
    runner = web.AppRunner(web_app)
    await runner.setup()
    handler = await connect_socket_mode(web_app)
    try:
        gemini.queue(Reply(text="Over the socket."))
        payload = EventSender("http://unused", "x").command_payload(
            "/gemini", "socket question", response_url=slack.new_response_url("C1", "U1"))
        ack = await slack.socket_mode.send("slash_commands", payload)
        assert ack is not None, "acknowledged within 3 s"
        await wait_until(lambda: roots(slack) and "Over the socket." in bot_replies(
            slack, "C1", roots(slack)[0]), timeout=10, message="socket answer")
    finally:
        await handler.close_async()
        await runner.cleanup()
