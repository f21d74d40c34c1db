"""`/gemini <question>`: a root message showing who asked what, answered in its thread.

The answer is a normal thread turn (streaming, search, files, buttons): the root message is
handed to the same accept path a mention takes, so replies in the thread continue the
conversation without a mention.
"""

from __future__ import annotations

from google.genai import _interactions as gx

from bot.commands.channel_post import CANNOT_POST, escape, post_root
from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.gemini import describe_api_error
from bot.logs import get_logger
from bot.rendering.mrkdwn import to_mrkdwn
from bot.services import Services
from bot.threads.messages import IncomingMessage
from bot.threads.turns import accept_message

log = get_logger("commands.ask")

PRIVATE_LIMIT = 3_500
USAGE = "Ask a question: `/gemini <question>`, e.g. `/gemini what is a monad?`"


async def ask(services: Services, req: CommandRequest) -> None:
    """Post the question in the channel and answer it in its thread."""
    question = req.text if req.word != "ask" else req.rest
    if not question:
        await reply_privately(services, req, USAGE)
        return
    ts = await post_root(services, req, f":speech_balloon: <@{req.user_id}> asked: "
                                        f"{escape(question)}", tell=False)
    if ts is None:
        await answer_privately(services, req, question)
        return
    msg = IncomingMessage(team_id=req.team_id, channel_id=req.channel_id, user_id=req.user_id,
                          text=question, ts=ts, channel_type="im" if req.is_dm else "channel",
                          mentioned=True)
    await accept_message(services, msg)


async def answer_privately(services: Services, req: CommandRequest, question: str) -> None:
    """Where the bot cannot post, answer through `response_url` (only the asker sees it)."""
    settings = services.settings
    try:
        interaction = await services.gemini.aio.interactions.create(
            model=settings.gemini_model, input=f"<@{req.user_id}>: {question}",
            system_instruction=settings.system_instruction, store=False)
    except gx.APIError as exc:
        err = describe_api_error(exc)
        log.warning("private_answer_failed", status=err.status, code=err.code)
        await reply_privately(services, req, f":no_entry: {CANNOT_POST}")
        return
    answer = to_mrkdwn(interaction.output_text or "")
    if len(answer) > PRIVATE_LIMIT:
        answer = answer[:PRIVATE_LIMIT] + "…"
    await reply_privately(services, req, ":lock: I can't post in this conversation, so only "
                          f"you see this answer.\n{answer}")


SUBCOMMANDS = [Subcommand("ask", "<question>", "ask Gemini; the answer goes in a new thread",
                          ask)]
