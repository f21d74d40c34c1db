"""Threads that follow an agent: replies wait for a running run, then continue with the agent.

A thread an agent run posts its result into gets a pointer record (kind `agent_thread`, id the
thread key): which run it follows, whether that run is still open, the replies held meanwhile,
and what the next run chains to (the agent's last interaction and sandbox). A reply while the
run is open is held (its placeholder says so); when the result is posted, the held replies
become the next runs, one after the other, each chained to the one before. A reply when no run
is open starts the next run right away. Every change is one fenced update of the pointer, so a
reply can't slip in between "the run posted its result" and "the thread stopped holding".
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.agents.record import get_run, new_run_id
from bot.delivery.edit_streamer import text_message
from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import IncomingMessage, strip_bot_mention
from storage import ThreadKey, ThreadState

log = get_logger("agents.threads")

POINTER = "agent_thread"
MISSING_RUN_GRACE_S = 60.0
HELD_NOTE = "_Queued: I'll answer this right after the agent run in this thread posts its result._"
AGENT_MENTION = re.compile(r"^(agent|research)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
LIST_MENTION = re.compile(r"^(list\s+)?(my\s+)?(agents|agent runs|runs)\s*[.!?]?$", re.IGNORECASE)


def thread_id(team_id: str, channel: str, thread_ts: str) -> str:
    """The pointer's id: the thread key."""
    return str(ThreadKey(team_id, channel, thread_ts))


async def get_pointer(services: Services, key: ThreadKey) -> dict[str, Any] | None:
    """The thread's agent pointer, or None (an ordinary thread)."""
    return await services.store.records.get(POINTER, str(key))


async def open_thread(services: Services, team_id: str, channel: str, thread_ts: str,
                      run_id: str, *, kind: str, agent: str, environment_id: str | None,
                      interaction_id: str | None) -> None:
    """Make the thread follow `run_id`: replies are held until its result is posted."""
    if not thread_ts:
        return
    key = ThreadKey(team_id, channel, thread_ts)
    records = services.store.records
    ttl = services.settings.thread_ttl_s
    fresh = {"run_id": run_id, "open": True, "held": [], "kind": kind, "agent": agent,
             "environment_id": environment_id, "interaction_id": interaction_id,
             "opened_at": time.time()}
    if not await records.create(POINTER, str(key), fresh, ttl):
        await records.update(POINTER, str(key), {"run_id": run_id, "open": True,
                                                 "opened_at": time.time()})
    if await services.store.get_thread(key) is None:
        # Replies without a mention are only taken in threads the bot knows.
        await services.store.save_thread(key, ThreadState(last_activity=time.time()), ttl)


def agent_task(text: str) -> tuple[str, str] | None:
    """("agent"|"research", task) for "agent: <task>" / "research: <question>", else None."""
    match = AGENT_MENTION.match(text.strip())
    return (match.group(1).lower(), match.group(2).strip()) if match else None


def wants_listing(text: str) -> bool:
    """"list my agents" and similar."""
    return bool(LIST_MENTION.match(text.strip()))


async def route_turn(services: Services, payload: dict[str, Any]) -> bool:
    """Handle a queued turn that belongs to an agent (True), or leave it to the model (False).

    Agent mentions ("agent: <task>", "list my agents") and every reply in a thread that follows
    an agent are ours; everything else is an ordinary answer.
    """
    if not services.settings.agents_enabled or payload.get("kind") == "regenerate":
        return False
    msg = IncomingMessage.from_payload(payload["message"])
    text = strip_bot_mention(msg.text, services.bot_user_id)
    placeholder = payload.get("placeholder_ts")
    asked = agent_task(text) if (msg.mentioned or msg.is_dm) else None
    if (msg.mentioned or msg.is_dm) and wants_listing(text):
        from bot.agents.listing import runs_listing

        listing, blocks = await runs_listing(services, msg.user_id)
        await _write(services, msg, placeholder, listing, blocks)
        return True
    pointer = await get_pointer(services, msg.key)
    if asked is None and pointer is None:
        return False
    if asked is not None and not asked[1]:
        await _write(services, msg, placeholder,
                     "Tell me the task after the colon, e.g. `@gemini agent: summarise the "
                     "open bugs in our tracker`.")
        return True
    task = asked[1] if asked else text
    if not task:
        return False
    return await _hold_or_start(services, msg, placeholder, task, asked[0] if asked else None,
                                pointer)


async def _hold_or_start(services: Services, msg: IncomingMessage, placeholder: str | None,
                         task: str, kind: str | None, pointer: dict[str, Any] | None) -> bool:
    from bot.agents.start import RunRequest, start_run

    records = services.store.records
    key = str(msg.key)
    entry = {"message": msg.to_payload(), "placeholder_ts": placeholder, "task": task,
             "kind": kind}
    for _ in range(50):
        if pointer is not None and pointer.get("open"):
            if await _settled(services, key, pointer):
                pointer = await records.get(POINTER, key)
                continue
            held = list(pointer.get("held") or [])
            if await records.update(POINTER, key, {"held": [*held, entry]},
                                    expect={"open": True, "run_id": pointer["run_id"],
                                            "held": pointer.get("held") or []}):
                log.info("reply_held", channel=msg.channel_id, run=pointer["run_id"])
                await _write(services, msg, placeholder, HELD_NOTE)
                return True
        else:
            run_id = new_run_id()
            run_kind = kind or (pointer or {}).get("kind") or "agent"
            follows = pointer is not None and (kind is None or kind == pointer.get("kind"))
            if pointer is None:
                took = await records.create(POINTER, key, {
                    "run_id": run_id, "open": True, "held": [], "kind": run_kind,
                    "agent": None, "environment_id": None, "interaction_id": None,
                    "opened_at": time.time()},
                    services.settings.thread_ttl_s)
            else:
                took = await records.update(POINTER, key, {"run_id": run_id, "open": True,
                                                           "kind": run_kind,
                                                           "opened_at": time.time()},
                                            expect={"open": False,
                                                    "run_id": pointer["run_id"]}) is not None
            if took:
                await start_run(services, RunRequest(
                    kind=run_kind, task=task, asker=msg.user_id, team_id=msg.team_id,
                    channel=msg.channel_id, thread_ts=msg.reply_thread_ts, card_ts=placeholder,
                    previous_interaction_id=pointer.get("interaction_id") if follows and pointer
                    else None,
                    environment_id=pointer.get("environment_id") if follows and pointer
                    else None,
                    agent=pointer.get("agent") if follows and pointer else None,
                ), run_id=run_id, claim_thread=False)
                return True
        pointer = await records.get(POINTER, key)
    raise RuntimeError("agent thread pointer kept changing")


async def _settled(services: Services, key: str, pointer: dict[str, Any]) -> bool:
    """Repair a pointer whose run is gone or already posted (True: it changed, read again)."""
    run = await get_run(services, str(pointer.get("run_id")))
    if run is None:
        if time.time() - float(pointer.get("opened_at") or 0) < MISSING_RUN_GRACE_S:
            return False  # being started right now: its record is about to be written
        # The run's record expired or was never written: stop holding replies for it.
        log.warning("agent_thread_run_missing", run=pointer.get("run_id"))
        await services.store.records.update(POINTER, key, {"open": False},
                                            expect={"run_id": pointer.get("run_id"),
                                                    "open": True})
        return True
    if run.get("phase") == "posted":
        await after_result(services, run)  # its hand-over did not finish: finish it now
        return True
    return False


async def after_result(services: Services, record: dict[str, Any]) -> None:
    """The run's result is posted: start the first held reply's run, or stop holding."""
    if not record.get("attach") or not record.get("result_thread"):
        return
    from bot.agents.start import RunRequest, start_run

    records = services.store.records
    key = thread_id(record["team_id"], record["channel"], record["result_thread"])
    completed = record["status"] == "completed"
    base = record["interaction_id"] if completed else record.get("previous_interaction_id")
    follow = {"interaction_id": base, "environment_id": record.get("environment_id"),
              "agent": record["agent"], "kind": record["kind"]}
    for _ in range(50):
        pointer = await records.get(POINTER, key)
        if pointer is None or pointer.get("run_id") != record["run_id"]:
            return  # the thread moved on (this is a retry after the hand-over)
        held = list(pointer.get("held") or [])
        if not held:
            if await records.update(POINTER, key, {**follow, "open": False},
                                    expect={"run_id": record["run_id"], "held": []}):
                return
            continue
        first = held[0]
        msg = IncomingMessage.from_payload(first["message"])
        next_id = hashlib.sha256(f"{record['run_id']}:{msg.ts}".encode()).hexdigest()[:16]
        if await get_run(services, next_id) is None:
            await start_run(services, RunRequest(
                kind=first.get("kind") or record["kind"], task=str(first["task"]),
                asker=msg.user_id, team_id=msg.team_id, channel=msg.channel_id,
                thread_ts=record["result_thread"], card_ts=first.get("placeholder_ts"),
                previous_interaction_id=base, environment_id=record.get("environment_id"),
                agent=record["agent"]), run_id=next_id, claim_thread=False)
        if await records.update(POINTER, key, {**follow, "run_id": next_id, "held": held[1:],
                                               "open": True, "opened_at": time.time()},
                                expect={"run_id": record["run_id"], "held": held}):
            log.info("held_reply_started", run=next_id, after=record["run_id"])
            return
    raise RuntimeError("agent thread pointer kept changing")


async def _write(services: Services, msg: IncomingMessage, placeholder: str | None, text: str,
                 blocks: list[dict[str, Any]] | None = None) -> None:
    """Show `text` in the reply's placeholder (or as a new reply)."""
    shown = text_message(text)
    try:
        if placeholder:
            await services.slack.chat_update(channel=msg.channel_id, ts=placeholder,
                                             text=shown.text, blocks=blocks or shown.blocks)
        else:
            await services.slack.chat_postMessage(channel=msg.channel_id,
                                                  thread_ts=msg.reply_thread_ts, text=shown.text,
                                                  blocks=blocks or shown.blocks)
    except SlackApiError as exc:
        log.warning("agent_reply_failed", channel=msg.channel_id, error=exc.response.get("error"))

