"""`/gemini <question>`: a root message showing who asked what, answered in its thread.

The answer is a normal thread turn (streaming, search, files, buttons): the root message is
handed to the same accept path a mention takes, so replies in the thread continue the
conversation without a mention.
"""

from __future__ import annotations

from bot.commands.channel_post import escape, post_root
from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.services import Services
from bot.threads.messages import IncomingMessage
from bot.threads.turns import accept_message

USAGE = "Ask a question: `/gemini <question>`, e.g. `/gemini what is a monad?`"


async def ask(services: Services, req: CommandRequest) -> None:
    """Post the question in the channel and answer it in its thread."""
    question = req.text if req.word != "ask" else req.rest
    if not question:
        await reply_privately(services, req, USAGE)
        return
    ts = await post_root(services, req, f":speech_balloon: <@{req.user_id}> asked: "
                                        f"{escape(question)}")
    if ts is None:
        return
    msg = IncomingMessage(team_id=req.team_id, channel_id=req.channel_id, user_id=req.user_id,
                          text=question, ts=ts, channel_type="im" if req.is_dm else "channel",
                          mentioned=True)
    await accept_message(services, msg)


SUBCOMMANDS = [Subcommand("ask", "<question>", "ask Gemini; the answer goes in a new thread",
                          ask)]
