"""Stop: end an answer that is being written, in whichever process writes it, keeping its text.

A Stop click records a cancel request in the Store (every process sees it) and, when the run
is in this process, also resolves its local signal so it ends at once. The running turn waits for
either while the model streams; on Stop it cancels the model task, which closes the Gemini
stream (the HTTP request), and the answer is finished with the text so far and a note.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.cancellation import raise_if_cancelling
from bot.controls.buttons import AnswerRef, note_blocks, regenerate_blocks
from bot.delivery.answer_writer import AnswerStream
from bot.logs import get_logger
from bot.rendering.partial import repair_partial
from bot.services import Services
from bot.threads.runs import TurnRun, save_incomplete
from storage import ThreadState

log = get_logger("stopping")

T = TypeVar("T")

STOP_POLL_S = 0.3
"""How often a running answer checks the Store for a Stop pressed in another process."""
STOP_TTL_S = 3600.0
"""How long a Stop request is kept (covers a turn that is still waiting in the queue)."""
NOTHING_WRITTEN = "_Stopped before Gemini wrote anything._"


class Stopped(Exception):
    """Someone pressed Stop on the running answer."""

    def __init__(self, by: str) -> None:
        super().__init__(f"stopped by {by}")
        self.by = by


async def request_stop(services: Services, ref: AnswerRef, by: str) -> None:
    """Ask the run `ref` names to stop, wherever it runs (or when it starts, if still queued)."""
    await services.store.request_cancel(ref.run_id, by, STOP_TTL_S)
    stopped = services.stop_signals.get(ref.run_id)
    if stopped is not None and not stopped.done():
        stopped.set_result(by)


async def run_stoppable(services: Services, run: TurnRun, work: Awaitable[T]) -> T:
    """Await `work` unless Stop is pressed first; then cancel it and raise Stopped."""
    run_id = run.ref.run_id
    if by := await services.store.cancel_requested(run_id):
        if asyncio.iscoroutine(work):
            work.close()
        raise Stopped(by)
    stopped: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    services.stop_signals[run_id] = stopped
    task = asyncio.ensure_future(work)
    poller = asyncio.create_task(_poll_for_stop(services, run_id, stopped))
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()  # finished (or failed) before any Stop landed
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # closes the Gemini stream
        raise Stopped(stopped.result())
    finally:
        if services.stop_signals.get(run_id) is stopped:
            del services.stop_signals[run_id]
        if not stopped.done():
            stopped.cancel()
        task.cancel()
        poller.cancel()
        await asyncio.gather(task, poller, return_exceptions=True)


async def _poll_for_stop(services: Services, run_id: str, stopped: asyncio.Future[str]) -> None:
    """Resolve `stopped` when the Store shows a Stop pressed in another process."""
    # Plain sleeps (no asyncio.timeout): Python 3.11's timeout can swallow a cancellation.
    while not stopped.done():
        raise_if_cancelling()
        await asyncio.sleep(STOP_POLL_S)
        try:
            by = await services.store.cancel_requested(run_id)
        except Exception:
            log.warning("stop_poll_failed", run=run_id, exc_info=True)
            continue
        if by and not stopped.done():
            stopped.set_result(by)


async def finish_stopped(services: Services, streamer: AnswerStream, run: TurnRun,
                         state: ThreadState, by: str) -> None:
    """Show the stopped answer (text so far + who stopped it + Regenerate) and record it."""
    partial = repair_partial(streamer.text)
    blocks = [*note_blocks(f"_Stopped by <@{by}>_"), *regenerate_blocks(run.ref)]
    answer_ts = await streamer.finish(partial or NOTHING_WRITTEN, extra_blocks=blocks)
    await save_incomplete(services, run, state, answer_ts)
    log.info("turn_stopped", channel=run.ref.key.channel_id, gen=run.ref.gen, by=by,
             chars=len(partial))
