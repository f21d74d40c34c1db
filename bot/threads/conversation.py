"""One turn of a thread's conversation: Slack message in, Gemini interaction, answer out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.agents.threads import route_turn
from bot.controls.buttons import answer_blocks
from bot.controls.stopping import Stopped, finish_stopped, run_stoppable
from bot.delivery.answer_writer import finish_answer
from bot.gemini import ChainNotFound, GeminiError
from bot.logs import get_logger
from bot.metrics import FirstTextTimer
from bot.services import Services
from bot.store_retry import patiently
from bot.threads.files import read_files
from bot.threads.inputs import thread_context, turn_input
from bot.threads.messages import IncomingMessage
from bot.threads.model_loop import run_model
from bot.threads.runs import finish_failed, open_run_stream, plan_run, remember_turn
from bot.tools.images import remember_shared_image
from bot.tools.registry import ToolContext
from storage import ThreadState

log = get_logger("conversation")

UNEXPECTED = "Something went wrong on my side while answering. Please try again."


async def answer_turn(services: Services, payload: dict[str, Any]) -> None:
    """Answer one queued turn in its thread and move the thread's chain forward."""
    if await route_turn(services, payload):
        return  # an agent's turn: started, held for a running agent, or a listing
    msg = IncomingMessage.from_payload(payload["message"])
    settings = services.settings
    store = services.store
    state = await store.get_thread(msg.key) or ThreadState()
    run = await plan_run(services, payload, state)  # first answer, or a Regenerate
    if run is None:
        return
    metrics = services.metrics
    accepted_at = payload.get("accepted_at") if not run.regenerated else None
    streamer = FirstTextTimer(open_run_stream(services, msg, run), accepted_at, metrics)
    await streamer.start()
    started = time.monotonic()
    previous = run.base
    tools: ToolContext | None = None
    try:
        seed = await thread_context(services, msg) if run.seed else None
        files = await read_files(services, msg)  # this message's files only: sent once
        tools = ToolContext(services, msg.channel_id, msg.reply_thread_ts, state=state.extra,
                            notes=files.notes, user_id=msg.user_id, team_id=msg.team_id)
        remember_shared_image(tools, files)
        user_input = turn_input(services, msg, seed, files)
        fallback = turn_input(services, msg, seed, files.rejected()) if files.read else None
        try:
            result = await run_stoppable(services, run, run_model(
                services, streamer, user_input, previous, tools, without_files=fallback))
        except ChainNotFound:
            # Gemini forgot the chain (expired): rebuild it once from the Slack thread.
            log.warning("chain_not_found", channel=msg.channel_id)
            seed = await thread_context(services, msg)
            result = await run_stoppable(
                services, run, run_model(services, streamer, turn_input(services, msg, seed, files),
                                         None, tools))
    except GeminiError as err:
        log.warning("turn_failed", channel=msg.channel_id, status=err.status, code=err.code)
        metrics.gemini_errors.labels("interactions.create", str(err.code or err.status)).inc()
        metrics.turns.labels("failed").inc()
        state = _keep_tool_updates(state, tools)  # e.g. an image posted before the failure
        await finish_failed(services, streamer, run, state, f":warning: {err.user_message}")
        return
    except Stopped as stop:
        metrics.turns.labels("stopped").inc()
        await finish_stopped(services, streamer, run, _keep_tool_updates(state, tools), stop.by)
        return
    except asyncio.CancelledError:
        await streamer.close()
        raise
    except Exception:
        # A bug or an unexpected Slack/Redis failure: never leave "Thinking…" on screen.
        log.exception("turn_failed_unexpectedly", channel=msg.channel_id)
        metrics.turns.labels("failed_unexpectedly").inc()
        state = _keep_tool_updates(state, tools)
        await finish_failed(services, streamer, run, state, f":warning: {UNEXPECTED}")
        return
    result.text = tools.answer_with_notes(result.text)  # skipped files, failed tools
    answer_ts = await finish_answer(streamer, result,
                                    answer_blocks(run.ref, result.interaction_id))
    new_state = state.model_copy(update={
        "interaction_id": result.interaction_id,
        "previous_interaction_id": previous,
        "model": settings.gemini_model,
        "turns": state.turns + 1,
        "last_activity": time.time(),
        "last_answer_ts": streamer.ts[0] if streamer.ts else None,
        "extra": {**state.extra, **tools.updates},
    })
    new_state = remember_turn(new_state, state, run, answer_ts)
    # The answer is on screen: wait out a short store outage rather than answer it twice.
    await patiently(services, lambda: store.save_thread(msg.key, new_state,
                                                        settings.thread_ttl_s))
    seconds = time.monotonic() - started
    tokens = result.usage.get("total_tokens")
    metrics.turns.labels("answered").inc()
    metrics.turn_seconds.observe(seconds)
    if isinstance(tokens, int | float):
        metrics.tokens.inc(tokens)
    log.info("turn_answered", channel=msg.channel_id, turns=new_state.turns,
             chars=len(result.text), seconds=round(seconds, 2), usage=tokens,
             interaction=result.interaction_id)


def _keep_tool_updates(state: ThreadState, tools: ToolContext | None) -> ThreadState:
    """`state` plus what the turn's tools recorded (kept even when the answer did not finish)."""
    if tools is None or not tools.updates:
        return state
    return state.model_copy(update={"extra": {**state.extra, **tools.updates}})
