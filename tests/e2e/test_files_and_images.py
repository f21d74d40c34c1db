"""Files in, images out: attachments reach Gemini as content blocks; generate_image posts images."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from fakes.gemini import FakeGemini, FunctionCall, Reply
from fakes.slack import FakeSlack
from storage import RedisStore, ThreadKey, ThreadState
from tests.e2e.conftest import BotFactory
from tests.e2e.test_threads import mention
from tests.support.harness import RunningBot, input_text

CHAT = "gemini-3.5-flash"
IMAGE = "gemini-3.1-flash-image"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(48))
FOX = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"fox" * 20
BLUE_FOX = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"blue" * 20
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


async def share(slack: FakeSlack, bot: RunningBot, text: str, files: list[dict[str, Any]], *,
                thread_ts: str | None = None, mentioned: bool = True) -> str:
    """A person posts a message with files (a mention, or a file_share reply in a thread)."""
    ts = slack.post_user_message("C1", user="U1", text=text, thread_ts=thread_ts, files=files)
    if mentioned:
        event = bot.sender.app_mention("C1", "U1", text, ts, thread_ts=thread_ts, files=files)
    else:
        event = bot.sender.message("C1", "U1", text, ts, thread_ts=thread_ts, files=files)
    status, *_ = await bot.send(event)
    assert status == 200
    return ts


def blocks_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks a create request sent as the user's input."""
    out: list[dict[str, Any]] = []
    for item in body["input"]:
        if item["type"] == "user_input":
            out += item["content"]
        elif item["type"] in ("text", "image", "document", "audio", "video"):
            out.append(item)
    return out


def media(body: dict[str, Any], kind: str) -> list[bytes]:
    """Decoded bytes of every `kind` block in a create request."""
    return [base64.b64decode(b["data"], validate=True) for b in blocks_of(body)
            if b["type"] == kind]


def creates(gemini: FakeGemini, model: str) -> list[dict[str, Any]]:
    """Create requests for one model, in order."""
    return [body for body in gemini.creates if body["model"] == model]


def answer(slack: FakeSlack, ts: str) -> str:
    """What a person sees of the bot's text answers in the thread (file posts excluded)."""
    return "\n".join(m.visible for m in slack.visible_thread("C1", ts)
                     if m.bot_id and not m.files)


def posted_files(slack: FakeSlack, ts: str) -> list[dict[str, Any]]:
    """Files the bot posted into the thread."""
    return [f for m in slack.visible_thread("C1", ts) if m.bot_id for f in m.files]


async def thread_state(redis_url: str, ts: str) -> ThreadState:
    store = RedisStore.from_url(redis_url)
    state = await store.get_thread(ThreadKey("T1", "C1", ts))
    await store.close()
    assert state is not None
    return state


def draw(prompt: str, **args: Any) -> Reply:
    """The chat model calling generate_image."""
    return Reply(function_calls=[FunctionCall("generate_image", {"prompt": prompt, **args})])


# -- files in ------------------------------------------------------------------------------------
async def test_image_in_a_thread_reaches_gemini_once_as_an_image_block(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    ts = await mention(slack, bot, "hi")
    await bot.settle()
    photo = slack.add_file("whiteboard.png", "image/png", PNG)
    await share(slack, bot, "what is on this whiteboard?", [photo], thread_ts=ts,
                mentioned=False)
    await bot.settle()
    await share(slack, bot, "and what colour is it?", [], thread_ts=ts, mentioned=False)
    await bot.settle()

    _, with_image, follow_up = gemini.creates
    first_id, second_id, _ = gemini.interactions
    assert media(with_image, "image") == [PNG]
    image_block = next(b for b in blocks_of(with_image) if b["type"] == "image")
    assert image_block["mime_type"] == "image/png"
    assert "[Attached file: whiteboard.png]" in input_text(with_image)
    assert with_image["previous_interaction_id"] == first_id
    assert not [b for b in blocks_of(follow_up) if b["type"] != "text"], "files are sent once"
    assert follow_up["previous_interaction_id"] == second_id
    downloads = slack.calls_to("(download)")
    assert len(downloads) == 1 and downloads[0].headers["Authorization"] == "Bearer xoxb-test"
    assert "couldn't read" not in answer(slack, ts)


async def test_pdf_text_file_and_unsupported_file_in_one_message(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    files = [slack.add_file("q3-report.pdf", "application/pdf", PDF),
             slack.add_file("deploy.py", "text/x-python", b"print('ship it')\n"),
             slack.add_file("backup.zip", "application/zip", b"PK\x03\x04zipzip")]
    gemini.queue(Reply(text="The report says revenue grew."), model=CHAT)
    ts = await share(slack, bot, "<@UBOT> summarise these", files)
    await bot.settle()

    body = gemini.creates[0]
    assert media(body, "document") == [PDF]
    assert next(b for b in blocks_of(body) if b["type"] == "document")["mime_type"] == \
        "application/pdf"
    sent = input_text(body)
    assert "Attached file deploy.py:\n```\nprint('ship it')\n" in sent
    assert "backup.zip: its type (ZIP) isn't supported" in sent, "the model is told too"
    shown = answer(slack, ts)
    assert "The report says revenue grew." in shown
    assert "I couldn't read backup.zip: its type (ZIP) isn't supported." in shown
    assert len(slack.calls_to("(download)")) == 2, "the unsupported file is not downloaded"


async def test_files_over_the_limits_are_skipped_with_a_note(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(max_file_mb=2 / 1024, max_turn_files_mb=3 / 1024, max_files_per_turn=4)
    big = slack.add_file("huge.png", "image/png", PNG + bytes(3000))
    sizeless = dict(slack.add_file("no-size.png", "image/png", PNG + bytes(2500)))
    del sizeless["size"]  # the event lacks the size: the cap holds while downloading
    small = [slack.add_file(f"small{i}.png", "image/png", PNG + bytes(1500)) for i in range(3)]
    ts = await share(slack, bot, "<@UBOT> look", [big, sizeless, *small])
    await bot.settle()

    shown = answer(slack, ts)
    assert "I couldn't read huge.png: it is 3 KB, over the 2 KB limit per file." in shown
    assert "I couldn't read no-size.png: it is over the 2 KB limit per file." in shown
    assert "I couldn't read small1.png: the message's files together are over the 3 KB limit " \
           "per message." in shown
    assert "I couldn't read small2.png: only the first 4 files of a message are read." in shown
    assert "couldn't read small0.png" not in shown
    assert media(gemini.creates[0], "image") == [PNG + bytes(1500)]
    assert [c.args["file_id"] for c in slack.calls_to("(download)")] == \
        [sizeless["id"], small[0]["id"]], "sizes known from the event are checked first"


async def test_a_refused_download_is_reported_and_the_turn_still_runs(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gone = slack.add_file("gone.png", "image/png", PNG)
    del slack.file_content[gone["id"]]  # Slack answers 404 for it
    foreign = {**slack.add_file("elsewhere.png", "image/png", PNG),
               "url_private": "https://evil.example/steal.png", "url_private_download": None}
    ts = await share(slack, bot, "<@UBOT> see these", [gone, foreign])
    await bot.settle()
    shown = answer(slack, ts)
    assert "echo: <@U1>: see these" in shown
    assert "I couldn't read gone.png: Slack answered HTTP 404." in shown
    assert "I couldn't read elsewhere.png: its download link is not on Slack." in shown
    assert len(slack.calls_to("(download)")) == 1, "the token never goes to another host"


async def test_a_file_event_without_details_is_looked_up(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    pdf = slack.add_file("contract.pdf", "application/pdf", PDF)
    stub = {"id": pdf["id"], "file_access": "check_file_info"}  # as Slack Connect sends it
    await share(slack, bot, "<@UBOT> read this", [stub])
    await bot.settle()
    assert [c.args["file"] for c in slack.calls_to("files.info")] == [pdf["id"]]
    assert media(gemini.creates[0], "document") == [PDF]


async def test_files_gemini_rejects_are_dropped_and_the_turn_answered(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(http_status=400, http_error={"error": {
        "code": "invalid_argument", "message": "The document has no pages."}}), model=CHAT)
    gemini.queue(Reply(text="I can only see your question."), model=CHAT)
    broken = slack.add_file("scan.pdf", "application/pdf", PDF)
    ts = await share(slack, bot, "<@UBOT> what does it say?", [broken])
    await bot.settle()

    rejected, retried = gemini.creates
    assert media(rejected, "document") == [PDF] and media(retried, "document") == []
    assert "scan.pdf: Gemini could not process it" in input_text(retried)
    shown = answer(slack, ts)
    assert "I can only see your question." in shown
    assert "Gemini couldn't process the attached files, so I answered without them." in shown


async def test_files_shared_before_the_bot_joined_are_named_not_sent(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    parent = slack.post_user_message("C1", user="U2", text="plan attached",
                                     files=[slack.add_file("plan.pdf", "application/pdf", PDF)])
    await mention(slack, bot, "thoughts?", thread_ts=parent)
    await bot.settle()
    assert "<@U2>: plan attached [shared files, not included: plan.pdf]" in \
        input_text(gemini.creates[0])
    assert media(gemini.creates[0], "document") == [] and not slack.calls_to("(download)")


async def test_fake_slack_serves_files_only_with_the_bot_token(slack: FakeSlack) -> None:
    file = slack.add_file("secret.pdf", "application/pdf", PDF)
    async with aiohttp.ClientSession() as http:
        async with http.get(file["url_private"]) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert "Sign in" in await resp.text()
        async with http.get(file["url_private"],
                            headers={"Authorization": "Bearer xoxb-test"}) as resp:
            assert await resp.read() == PDF


# -- images out ----------------------------------------------------------------------------------
async def test_draw_uploads_the_image_into_the_thread_and_chains_the_result(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    prompt = "a red fox in fresh snow, watercolour"
    gemini.queue(draw(prompt, aspect_ratio="16:9"), model=CHAT)
    gemini.queue(Reply(image=FOX, text="A fox.", hang_s=0.4), model=IMAGE)
    gemini.queue(Reply(text="Here is your fox."), model=CHAT)
    ts = await mention(slack, bot, "draw a red fox in the snow")
    await bot.settle()
    statuses = [c.args["status"] for c in slack.calls_to("assistant.threads.setStatus")]
    assert "is generating an image…" in statuses, "progress shows while the image is made"

    [image_call] = creates(gemini, IMAGE)
    assert input_text(image_call) == prompt and not media(image_call, "image")
    assert "image" in image_call["response_modalities"] and image_call["store"] is False
    assert image_call["generation_config"] == {"image_config": {"aspect_ratio": "16:9"}}
    # Uploaded with files_upload_v2 into this thread, titled and alt-texted with the prompt.
    order = [c.method for c in slack.calls if c.method.startswith(("files.", "(upload)"))]
    assert order == ["files.getUploadURLExternal", "(upload)", "files.completeUploadExternal"]
    done = slack.calls_to("files.completeUploadExternal")[0].args
    assert (done["channel_id"], done["thread_ts"]) == ("C1", ts)
    [posted] = posted_files(slack, ts)
    assert (posted["title"], posted["alt_txt"], posted["mimetype"]) == (prompt, prompt, "image/png")
    assert slack.file_content[posted["id"]] == FOX
    # The function result goes back chained to the interaction that asked for it.
    first_id, *_ = gemini.interactions
    call = next(s for s in gemini.interactions[first_id]["steps"] if s["type"] == "function_call")
    _, result_body = creates(gemini, CHAT)
    assert result_body["previous_interaction_id"] == first_id
    [step] = result_body["input"]
    assert (step["type"], step["call_id"], step["name"]) == ("function_result", call["id"],
                                                             "generate_image")
    assert "is_error" not in step and "posted" in step["result"]
    assert "Here is your fox." in answer(slack, ts)
    state = await thread_state(redis_flushed, ts)
    last_id = list(gemini.interactions)[-1]
    assert gemini.interactions[last_id]["status"] == "completed"
    assert state.interaction_id == last_id, "the chain head is the final interaction"
    assert state.extra["last_image"]["file_id"] == posted["id"]


async def test_progress_is_shown_while_the_image_is_made(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(slack_streaming="edit")
    gemini.queue(Reply(text="Let me draw that.",
                       function_calls=[FunctionCall("generate_image", {"prompt": "a kite"})]),
                 model=CHAT)
    gemini.queue(Reply(image=PNG, hang_s=0.8), model=IMAGE)
    gemini.queue(Reply(text="Done!"), model=CHAT)
    ts = await mention(slack, bot, "draw a kite")
    await bot.settle()
    edits = [str(c.args.get("blocks") or c.args.get("text")) for c in slack.calls_to("chat.update")]
    assert any("Let me draw that." in e and "Generating an image…" in e for e in edits)
    shown = answer(slack, ts)
    assert "Let me draw that.\n\nDone!" in shown and "Generating" not in shown


async def test_make_it_blue_edits_the_previous_image(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(draw("a red fox"), model=CHAT)
    gemini.queue(Reply(image=FOX), model=IMAGE)
    gemini.queue(Reply(text="A red fox."), model=CHAT)
    ts = await mention(slack, bot, "draw a red fox")
    await bot.settle()
    gemini.queue(draw("make the fox blue", edit_last_image=True), model=CHAT)
    gemini.queue(Reply(image=BLUE_FOX), model=IMAGE)
    gemini.queue(Reply(text="Now it is blue."), model=CHAT)
    await share(slack, bot, "now make it blue", [], thread_ts=ts, mentioned=False)
    await bot.settle()

    first, edit = creates(gemini, IMAGE)
    assert media(first, "image") == []
    assert media(edit, "image") == [FOX], "the image model gets the previous image"
    assert input_text(edit) == "make the fox blue"
    files = posted_files(slack, ts)
    assert [slack.file_content[f["id"]] for f in files] == [FOX, BLUE_FOX]
    assert slack.calls_to("files.info")[0].args["file"] == files[0]["id"]
    assert "Now it is blue." in answer(slack, ts)


async def test_an_image_a_person_shared_can_be_edited(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    photo = slack.add_file("team.png", "image/png", PNG)
    ts = await share(slack, bot, "<@UBOT> nice photo", [photo])
    await bot.settle()
    gemini.queue(draw("the same photo in black and white", edit_last_image=True), model=CHAT)
    gemini.queue(Reply(image=FOX), model=IMAGE)
    await share(slack, bot, "make it black and white", [], thread_ts=ts, mentioned=False)
    await bot.settle()
    [edit] = creates(gemini, IMAGE)
    assert media(edit, "image") == [PNG]


async def test_several_calls_in_one_step_each_get_a_result(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(function_calls=[FunctionCall("generate_image", {"prompt": "a cat"}),
                                       FunctionCall("generate_image", {"prompt": "a dog"})]),
                 model=CHAT)
    gemini.queue(Reply(image=PNG), model=IMAGE)
    gemini.queue(Reply(image=FOX), model=IMAGE)
    gemini.queue(Reply(text="A cat and a dog."), model=CHAT)
    ts = await mention(slack, bot, "draw a cat and a dog")
    await bot.settle()

    assert [input_text(b) for b in creates(gemini, IMAGE)] == ["a cat", "a dog"]
    assert [f["title"] for f in posted_files(slack, ts)] == ["a cat", "a dog"]
    first_id, *_ = gemini.interactions
    calls = [s["id"] for s in gemini.interactions[first_id]["steps"]
             if s["type"] == "function_call"]
    results = creates(gemini, CHAT)[1]["input"]
    assert [r["call_id"] for r in results] == calls
    assert "A cat and a dog." in answer(slack, ts)


async def test_failing_image_model_gives_a_clear_message_and_an_error_result(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot, redis_flushed: str) -> None:
    gemini.queue(draw("a castle"), model=CHAT)
    gemini.queue(Reply(http_status=500, http_error={"error": {"code": "internal"}}),
                 model=IMAGE)
    gemini.queue(Reply(http_status=500, http_error={"error": {"code": "internal"}}),
                 model=IMAGE)  # the client retries once (GEMINI_RETRY_ATTEMPTS=2 in tests)
    gemini.queue(Reply(text="Sorry, that did not work."), model=CHAT)
    ts = await mention(slack, bot, "draw a castle")
    await bot.settle()

    [result] = creates(gemini, CHAT)[1]["input"]
    assert result["is_error"] is True and "internal error" in result["result"]
    shown = answer(slack, ts)
    assert "Sorry, that did not work." in shown
    assert "Image generation failed: Gemini had an internal error. Please try again." in shown
    assert posted_files(slack, ts) == []
    state = await thread_state(redis_flushed, ts)
    assert state.interaction_id == list(gemini.interactions)[-1] and state.turns == 1


async def test_refused_image_and_failed_upload_are_error_results(
        slack: FakeSlack, gemini: FakeGemini, bot: RunningBot) -> None:
    gemini.queue(Reply(function_calls=[FunctionCall("generate_image", {"prompt": "a secret"}),
                                       FunctionCall("generate_image", {"prompt": "a boat"})]),
                 model=CHAT)
    gemini.queue(Reply(text="I can't create that image."), model=IMAGE)
    gemini.queue(Reply(image=PNG), model=IMAGE)
    gemini.queue(Reply(text="Only partly done."), model=CHAT)
    slack.fail_next("files.completeUploadExternal", status=200, error="not_in_channel")
    ts = await mention(slack, bot, "draw two things")
    await bot.settle()

    refused, failed_upload = creates(gemini, CHAT)[1]["input"]
    assert refused["is_error"] and "I can't create that image." in refused["result"]
    assert failed_upload["is_error"] and "not_in_channel" in failed_upload["result"]
    shown = answer(slack, ts)
    assert "Only partly done." in shown
    assert ("Image generation failed: the image model returned no image and said: "
            "“I can't create that image.”") in shown
    assert "Image generation failed: Slack refused the upload (not_in_channel)." in shown


async def test_tool_rounds_are_bounded(
        slack: FakeSlack, gemini: FakeGemini, make_bot: BotFactory) -> None:
    bot = await make_bot(max_tool_rounds=1)
    gemini.queue(draw("a tree"), model=CHAT)
    gemini.queue(Reply(image=PNG), model=IMAGE)
    gemini.queue(draw("another tree"), model=CHAT)
    gemini.queue(Reply(text="One tree is all I could do."), model=CHAT)
    ts = await mention(slack, bot, "draw trees forever")
    await bot.settle()

    assert len(creates(gemini, IMAGE)) == 1
    chats = creates(gemini, CHAT)
    assert len(chats) == 3
    [refusal] = chats[2]["input"]
    assert refusal["is_error"] is True and "already used its 1 rounds" in refusal["result"]
    assert chats[2]["generation_config"] == {"tool_choice": "none"}
    assert "One tree is all I could do." in answer(slack, ts)
    assert len(posted_files(slack, ts)) == 1
