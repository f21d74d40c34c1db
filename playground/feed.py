"""The live feed: what the page shows, recomputed when the fake Slack changes, sent as diffs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from bot.logs import get_logger
from fakes.slack import FakeSlack, Message
from playground.message_html import ephemeral_html, message_html

log = get_logger("playground.feed")

Item = dict[str, Any]
DEBOUNCE_S = 0.04
"""Changes closer together than this go out as one update."""
CANNOT_DRAW = ('<div class="msg-main"><div class="unsupported">This message could not be drawn '
               "(the console log says why).</div></div>")
IDLE_REFRESH_S = 1.0
"""Redraw at least this often (streams and thread statuses also expire with time)."""
KEEP_RECORDS = 1_000
"""The fakes record every call for tests; a long playground session keeps only the newest."""


def _signature(msg: Message, state: str | None, replies: list[str]) -> str:
    """Everything about a message that changes how it looks."""
    stream = msg.stream
    return json.dumps([
        msg.text, msg.markdown_text, stream.text if stream else None, state,
        stream.replaced if stream else None, msg.blocks, msg.attachments,
        [f.get("id") for f in msg.files or []], msg.edited, msg.deleted, msg.subtype,
        msg.reactions, replies,
    ], default=str, sort_keys=True)


class Feed:
    """Keeps every connected page in step with the fake workspace."""

    def __init__(self, slack: FakeSlack, you: str, logs: list[list[Any]] | None = None) -> None:
        self.slack = slack
        self.you = you
        self.logs = [slack.calls, slack.statuses, slack.responses, *(logs or [])]
        """Records the fakes keep for tests; the playground keeps only the newest of each."""
        self._cache: dict[str, tuple[str, Item]] = {}
        self._shown: dict[str, str] = {}
        self._clients: set[asyncio.Queue[str | None]] = set()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Watch the fake and start the redraw loop."""
        self.slack.watchers.append(self.poke)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="playground-feed")

    async def stop(self) -> None:
        """Stop the loop and end every open stream."""
        with contextlib.suppress(ValueError):
            self.slack.watchers.remove(self.poke)
        for queue in self._clients:
            queue.put_nowait(None)
        # A flag, not task.cancel(): on Python 3.11 a cancel that races the wait's own wake-up
        # can be swallowed, and the loop would then run (and be awaited) forever.
        self._closed = True
        self._dirty.set()
        if self._task is not None:
            await self._task

    def poke(self) -> None:
        """Something may have changed: redraw soon."""
        self._dirty.set()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_REFRESH_S):
                    await self._dirty.wait()
                await asyncio.sleep(DEBOUNCE_S)
            if self._closed:
                return
            self._dirty.clear()
            try:
                self.publish()
            except Exception:  # keep the page live; the next change tries again
                log.exception("feed_update_failed")

    # clients ------------------------------------------------------------------------------
    def subscribe(self) -> tuple[asyncio.Queue[str | None], str]:
        """A queue of future updates, and the full current state to start from."""
        self.publish()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._clients.add(queue)
        items = [json.loads(v) for v in self._shown.values()]
        return queue, json.dumps({"reset": True, "items": items})

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        """Forget a closed page."""
        self._clients.discard(queue)

    def publish(self) -> None:
        """Compute what changed since the last update and send it to every page."""
        current = {item["key"]: json.dumps(item, sort_keys=True) for item in self.items()}
        changed = [json.loads(v) for k, v in current.items() if self._shown.get(k) != v]
        changed += [{"kind": "gone", "key": k} for k in self._shown if k not in current]
        self._shown = current
        for log in self.logs:
            if len(log) > 2 * KEEP_RECORDS:
                del log[:-KEEP_RECORDS]
        if not changed:
            return
        update = json.dumps({"reset": False, "items": changed})
        for queue in self._clients:
            queue.put_nowait(update)

    # what the page shows --------------------------------------------------------------------
    def items(self) -> list[Item]:
        """Every message, ephemeral and thread status, as page items."""
        out: list[Item] = []
        cache: dict[str, tuple[str, Item]] = {}
        for channel, stored in self.slack.messages.items():
            replies: dict[str, list[str]] = {}
            for msg in stored.values():
                if msg.is_reply and not msg.deleted and msg.thread_ts:
                    replies.setdefault(msg.thread_ts, []).append(msg.ts)
            for msg in stored.values():
                if msg.deleted:
                    continue
                item = self._message_item(channel, msg, sorted(replies.get(msg.ts, [])), cache)
                out.append(item)
                if not msg.is_reply:
                    status = self.slack.visible_status(channel, msg.ts)
                    if status:
                        out.append({"kind": "status", "key": f"status/{channel}/{msg.ts}",
                                    "channel": channel, "thread": msg.ts,
                                    "text": f"gemini {status}"})
        self._cache = cache
        out.extend(self._ephemerals())
        return out

    def _message_item(self, channel: str, msg: Message, replies: list[str],
                      cache: dict[str, tuple[str, Item]]) -> Item:
        """One message as a page item, re-rendered only when it changed."""
        key = f"{channel}/{msg.ts}"
        state = self.slack.stream_state(msg)
        sig = _signature(msg, state, replies)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == sig:
            cache[key] = hit
            return hit[1]
        streaming = state == "streaming"
        try:
            shown = message_html(self.slack, msg, streaming)
        except Exception:  # one odd message must not stop the page from updating
            log.exception("message_not_drawn", channel=channel, ts=msg.ts)
            shown = CANNOT_DRAW
        item = {
            "kind": "msg", "key": key, "channel": channel, "ts": msg.ts,
            "thread": msg.thread_ts if msg.is_reply else None,
            "replies": len(replies), "last_reply": replies[-1] if replies else None,
            "bot": msg.bot_id is not None, "mine": msg.user == self.you,
            "streaming": streaming, "html": shown,
        }
        cache[key] = (sig, item)
        return item

    def _ephemerals(self) -> list[Item]:
        """Messages only the playground's user sees."""
        out = []
        for channel in self.slack.channels:
            for eph in self.slack.ephemerals(channel, self.you):
                out.append({"kind": "msg", "key": f"eph/{channel}/{eph.ts}", "channel": channel,
                            "ts": eph.ts, "thread": eph.thread_ts, "replies": 0,
                            "last_reply": None, "bot": True, "mine": False, "streaming": False,
                            "ephemeral": True, "html": ephemeral_html(self.slack, eph)})
        return out
