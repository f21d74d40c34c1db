"""One turn of a thread's conversation: Slack message in, Gemini interaction, answer out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.gemini import ChainNotFound, GeminiError
from bot.inputs import thread_context, turn_input
from bot.logs import get_logger
from bot.messages import IncomingMessage
from bot.model_loop import run_model
from bot.services import Services
from bot.streaming import EditStreamer
from storage import ThreadState

log = get_logger("conversation")


async def answer_turn(services: Services, payload: dict[str, Any]) -> None:
    """Answer one queued turn in its thread and move the thread's chain forward."""
    msg = IncomingMessage.from_payload(payload["message"])
    settings = services.settings
    store = services.store
    state = await store.get_thread(msg.key) or ThreadState()
    streamer = EditStreamer(
        client=services.slack, interim_client=services.slack_interim,
        channel=msg.channel_id, thread_ts=msg.reply_thread_ts, budget=services.budget,
        interval=settings.edit_interval_s, message_ts=payload.get("placeholder_ts"),
    )
    await streamer.start()
    started = time.monotonic()
    previous = state.interaction_id
    try:
        seed = await thread_context(services, msg) if payload.get("seed_thread") else None
        user_input = turn_input(services, msg, seed)
        try:
            result = await run_model(services, streamer, user_input, previous)
        except ChainNotFound:
            # Gemini forgot the chain (expired): rebuild it once from the Slack thread.
            log.warning("chain_not_found", channel=msg.channel_id)
            seed = await thread_context(services, msg)
            result = await run_model(services, streamer, turn_input(services, msg, seed), None)
    except GeminiError as err:
        log.warning("turn_failed", channel=msg.channel_id, status=err.status, code=err.code)
        await streamer.fail(f":warning: {err.user_message}", partial=streamer.text)
        return
    except asyncio.CancelledError:
        await streamer.close()
        raise
    await streamer.finish(result.text)
    new_state = state.model_copy(update={
        "interaction_id": result.interaction_id,
        "previous_interaction_id": previous,
        "model": settings.gemini_model,
        "turns": state.turns + 1,
        "last_activity": time.time(),
        "last_answer_ts": streamer.ts[0] if streamer.ts else None,
    })
    await store.save_thread(msg.key, new_state, settings.thread_ttl_s)
    log.info("turn_answered", channel=msg.channel_id, turns=new_state.turns,
             chars=len(result.text), seconds=round(time.monotonic() - started, 2),
             usage=result.usage.get("total_tokens"))
