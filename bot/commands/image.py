"""`/gemini image <prompt>`: the image, in a new thread under a message saying who asked."""

from __future__ import annotations

import time

from bot.commands.channel_post import escape, post_root
from bot.commands.replies import reply_privately
from bot.commands.request import CommandRequest
from bot.commands.router import Subcommand
from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import IncomingMessage
from bot.tools.images import generate_image
from bot.tools.registry import ToolContext, ToolError
from storage import ThreadState

log = get_logger("commands.image")

USAGE = "Describe the image: `/gemini image <prompt>`, e.g. `/gemini image a lighthouse at dusk`"


async def image(services: Services, req: CommandRequest) -> None:
    """Generate the image into a new thread; replies there can change it (no mention needed)."""
    prompt = req.rest
    if not prompt:
        await reply_privately(services, req, USAGE)
        return
    if not services.settings.gemini_image_model:
        await reply_privately(services, req, "Image generation is switched off here.")
        return
    ts = await post_root(services, req, f":frame_with_picture: <@{req.user_id}> asked for an "
                                        f"image: {escape(prompt)}")
    if ts is None:
        return
    key = IncomingMessage(req.team_id, req.channel_id, req.user_id, prompt, ts).key
    ctx = ToolContext(services, req.channel_id, ts)
    try:
        await generate_image({"prompt": prompt}, ctx)
    except ToolError as err:
        log.warning("command_image_failed", channel=req.channel_id)
        await services.slack.chat_postMessage(channel=req.channel_id, thread_ts=ts,
                                              text=f":warning: I couldn't make the image: {err}")
    state = ThreadState(last_activity=time.time(), extra=dict(ctx.updates))
    await services.store.save_thread(key, state, services.settings.thread_ttl_s)


SUBCOMMANDS = [Subcommand("image", "image <prompt>", "generate an image in a new thread", image)]
