"""Which generation of a turn is being answered, and what the thread remembers of it.

A queued turn is either a person's new message (the first answer) or a Regenerate of the
thread's latest turn. Both run the same way in `bot.threads.conversation.answer_turn`; a `TurnRun`
says where the run starts in the chain and which Slack messages it writes into.

After every run the thread keeps `extra["last_turn"]`: the asker's message, the chain point the
turn ran from (`base`) and the answer's messages, which is what Regenerate needs. A stopped or
failed run leaves the chain head at `base`: the partial interaction is never chained to (whether
Gemini accepts a cancelled interaction as `previous_interaction_id` is not verified), and the
model is told nothing about the partial text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.controls.buttons import AnswerRef, regenerate_blocks, stop_blocks, tell
from bot.delivery.answer_writer import AnswerStream, open_answer_stream
from bot.delivery.edit_streamer import EditStreamer, text_message
from bot.logs import get_logger
from bot.rendering.partial import repair_partial
from bot.services import Services
from bot.threads.messages import IncomingMessage
from storage import ThreadState

log = get_logger("runs")

LAST_TURN = "last_turn"
REGENERATE_KIND = "regenerate"
REGENERATING = "_Regenerating…_"
NOT_LATEST = "Only the latest answer in a thread can be regenerated."


@dataclass(frozen=True, slots=True)
class LastTurn:
    """The thread's latest turn, as stored in `ThreadState.extra["last_turn"]`."""

    ts: str
    gen: int
    base: str | None
    answer_ts: list[str]
    message: dict[str, Any]
    seed: bool

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"ts": self.ts, "gen": self.gen, "base": self.base, "answer_ts": self.answer_ts,
                "message": self.message, "seed": self.seed}


def last_turn(state: ThreadState | None) -> LastTurn | None:
    """The thread's latest turn, or None (no turn yet, or state written by an older version)."""
    raw = state.extra.get(LAST_TURN) if state is not None else None
    if not isinstance(raw, dict):
        return None
    try:
        return LastTurn(ts=str(raw["ts"]), gen=int(raw["gen"]), base=raw.get("base"),
                        answer_ts=[str(t) for t in raw.get("answer_ts") or []],
                        message=dict(raw["message"]), seed=bool(raw.get("seed")))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class TurnRun:
    """One generation of a turn's answer: where it starts in the chain, where it is written."""

    ref: AnswerRef
    base: str | None
    """The interaction this run chains to (`previous_interaction_id`)."""
    message_ts: list[str]
    """Slack messages to write into: the placeholder, or the answer being regenerated."""
    message: dict[str, Any]
    seed: bool
    regenerated: bool = False


def regenerate_payload(last: LastTurn, *, by: str, claim_key: str,
                       owner: str) -> dict[str, Any]:
    """The queued turn that re-runs `last` (answered by `answer_turn` like any turn)."""
    return {"kind": REGENERATE_KIND, "message": last.message, "seed_thread": last.seed,
            "gen": last.gen, "by": by, "claim_key": claim_key, "claim_owner": owner}


async def plan_run(services: Services, payload: dict[str, Any],
                   state: ThreadState) -> TurnRun | None:
    """The run a queued turn asks for; None when it was answered already or a Regenerate is
    no longer possible."""
    msg = IncomingMessage.from_payload(payload["message"])
    if payload.get("kind") != REGENERATE_KIND:
        done = last_turn(state)
        if done is not None and done.ts == msg.ts:
            # Answered already (a process lost its lease, or stopped after saving): don't fork.
            log.info("turn_already_answered", channel=msg.channel_id, ts=msg.ts)
            return None
        # The bot joins a thread people started: send its earlier messages once, until a
        # first answer exists (also when a first attempt failed or was stopped).
        seed = state.interaction_id is None and msg.in_existing_thread
        placeholder = payload.get("placeholder_ts")
        return TurnRun(AnswerRef.first(msg), base=state.interaction_id,
                       message_ts=[placeholder] if placeholder else [],
                       message=msg.to_payload(), seed=seed)
    last = last_turn(state)
    if last is None or last.ts != msg.ts or last.gen != payload.get("gen"):
        # A newer turn was answered (or regenerated) while this click waited in the queue.
        await tell(services, channel=msg.channel_id, user=str(payload.get("by") or msg.user_id),
                   text=NOT_LATEST, thread_ts=msg.reply_thread_ts)
        return None
    ref = AnswerRef(msg.key, msg.ts, last.gen + 1, msg.user_id)
    reuse = await _show_regenerating(services, msg, last, ref)
    return TurnRun(ref, base=last.base, message_ts=reuse, message=last.message, seed=last.seed,
                   regenerated=True)


def open_run_stream(services: Services, msg: IncomingMessage, run: TurnRun) -> AnswerStream:
    """The answer stream for a run, with Stop while it writes; a regeneration edits in place."""
    stop = stop_blocks(run.ref)
    if not run.regenerated:
        placeholder = run.message_ts[0] if run.message_ts else None
        return open_answer_stream(services, msg, placeholder, interim_blocks=stop)
    return EditStreamer(
        client=services.slack, interim_client=services.slack_interim,
        channel=msg.channel_id, thread_ts=msg.reply_thread_ts, budget=services.budget,
        interval=services.settings.edit_interval_s, message_ts=run.message_ts,
        interim_blocks=stop,
    )


async def _show_regenerating(services: Services, msg: IncomingMessage, last: LastTurn,
                             ref: AnswerRef) -> list[str]:
    """Turn the old answer's first message into a placeholder with Stop; its messages to reuse."""
    if not last.answer_ts:
        return []
    notice = text_message(REGENERATING)
    await services.budget.take()
    try:
        await services.slack.chat_update(channel=msg.channel_id, ts=last.answer_ts[0],
                                         text=notice.text,
                                         blocks=[*notice.blocks, *stop_blocks(ref)])
    except SlackApiError as exc:
        # The old answer was deleted: the new one is posted as a fresh reply.
        log.info("regenerate_target_gone", channel=msg.channel_id,
                 error=exc.response.get("error"))
        return []
    return list(last.answer_ts)


def remember_turn(new_state: ThreadState, state: ThreadState, run: TurnRun,
                  answer_ts: Sequence[str]) -> ThreadState:
    """`new_state` with this run as the latest turn (replacing a completed answer adds no turn)."""
    if run.regenerated and state.interaction_id != run.base:
        new_state = new_state.model_copy(update={"turns": state.turns})
    return _with_last_turn(new_state, run, answer_ts)


async def save_incomplete(services: Services, run: TurnRun, state: ThreadState,
                          answer_ts: Sequence[str]) -> None:
    """Record a stopped or failed run: the chain head goes back to (or stays at) its base."""
    update: dict[str, Any] = {"last_activity": time.time()}
    if answer_ts:
        update["last_answer_ts"] = answer_ts[0]
    if state.interaction_id != run.base:
        # A regeneration that did not finish: the answer it replaced is no longer shown.
        update.update(interaction_id=run.base, previous_interaction_id=None,
                      turns=max(0, state.turns - 1))
    new_state = _with_last_turn(state.model_copy(update=update), run, answer_ts)
    await services.store.save_thread(run.ref.key, new_state, services.settings.thread_ttl_s)


def _with_last_turn(state: ThreadState, run: TurnRun, answer_ts: Sequence[str]) -> ThreadState:
    last = LastTurn(ts=run.ref.turn_ts, gen=run.ref.gen, base=run.base,
                    answer_ts=list(answer_ts), message=run.message, seed=run.seed)
    return state.model_copy(update={"extra": {**state.extra, LAST_TURN: last.to_json()}})


async def finish_failed(services: Services, streamer: AnswerStream, run: TurnRun,
                        state: ThreadState, notice: str) -> None:
    """Show a failed run's error (keeping any text written) with Regenerate to try again."""
    partial = repair_partial(streamer.text)
    body = f"{partial}\n\n{notice}" if partial else notice
    answer_ts = await streamer.finish(body, extra_blocks=regenerate_blocks(run.ref))
    await save_incomplete(services, run, state, answer_ts)
