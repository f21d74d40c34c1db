"""Answer controls: the Stop, Regenerate and feedback buttons, what they carry, who may press them.

Every button's `value` names the answer it belongs to (an `AnswerRef`): the thread, the turn
(the asker's message ts), which generation of that turn's answer it is, and who asked. That is
enough for any bot process to act on a click without reading Slack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.logs import get_logger
from bot.services import Services
from bot.threads.messages import IncomingMessage
from storage import ThreadKey

log = get_logger("controls")

STOP = "stop_answer"
REGENERATE = "regenerate_answer"
FEEDBACK = "answer_feedback"
POSITIVE = "positive"
NEGATIVE = "negative"

_TS = re.compile(r"^\d{9,10}\.\d{6}$")
_ID = re.compile(r"^[A-Z0-9]{1,32}$")


class BadControl(Exception):
    """A button click that cannot be acted on (malformed or foreign value)."""


@dataclass(frozen=True, slots=True)
class AnswerRef:
    """One generation of the answer to one turn: what a control button points at."""

    key: ThreadKey
    turn_ts: str
    """Slack ts of the asker's message."""
    gen: int
    """0 for the first answer, +1 per regeneration."""
    asker: str
    """User id of the person who asked."""

    @classmethod
    def first(cls, msg: IncomingMessage) -> AnswerRef:
        """The first answer to `msg`."""
        return cls(msg.key, msg.ts, 0, msg.user_id)

    @property
    def run_id(self) -> str:
        """Names this generation across processes (Stop flags, task names)."""
        return f"{self.key}:{self.turn_ts}:{self.gen}"

    def to_value(self) -> str:
        """The button value (compact JSON, far below Slack's 2,000 characters)."""
        data = {"k": str(self.key), "t": self.turn_ts, "g": self.gen, "u": self.asker}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str) -> AnswerRef:
        """Inverse of `to_value`; BadControl for anything else."""
        data = _json_object(value)
        try:
            key = ThreadKey.parse(str(data["k"]))
            ref = cls(key, str(data["t"]), data["g"], str(data["u"]))
        except (KeyError, ValueError) as exc:
            raise BadControl(f"bad answer reference: {exc}") from None
        if not (_TS.match(ref.turn_ts) and _TS.match(key.thread_ts) and _ID.match(ref.asker)):
            raise BadControl("bad answer reference fields")
        if not isinstance(ref.gen, int) or isinstance(ref.gen, bool) or ref.gen < 0:
            raise BadControl("bad answer generation")
        return ref


@dataclass(frozen=True, slots=True)
class Rating:
    """What a feedback button carries: the rated interaction and the verdict."""

    interaction_id: str
    value: str

    def to_value(self) -> str:
        """The feedback button value."""
        return json.dumps({"i": self.interaction_id, "f": self.value}, separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str) -> Rating:
        """Inverse of `to_value`; BadControl for anything else."""
        data = _json_object(value)
        rating = cls(str(data.get("i") or ""), str(data.get("f") or ""))
        if not rating.interaction_id or len(rating.interaction_id) > 200:
            raise BadControl("feedback without an interaction id")
        if rating.value not in (POSITIVE, NEGATIVE):
            raise BadControl("feedback value must be positive or negative")
        return rating


@dataclass(frozen=True, slots=True)
class Click:
    """One press of a control button, reduced to what the bot needs."""

    user_id: str
    channel_id: str
    value: str
    action_ts: str
    message_ts: str
    thread_ts: str | None


def parse_click(body: dict[str, Any], action: dict[str, Any]) -> Click:
    """Read a `block_actions` payload; BadControl when it names no user or channel."""
    user = (body.get("user") or {}).get("id")
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if not isinstance(user, str) or not isinstance(channel, str) or not user or not channel:
        raise BadControl("click without user or channel")
    return Click(
        user_id=user, channel_id=channel, value=str(action.get("value") or ""),
        action_ts=str(action.get("action_ts") or ""),
        message_ts=str(container.get("message_ts") or message.get("ts") or ""),
        thread_ts=container.get("thread_ts") or message.get("thread_ts"),
    )


def _json_object(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        raise BadControl("button value is not JSON") from None
    if not isinstance(data, dict):
        raise BadControl("button value is not an object")
    return data


# -- blocks -------------------------------------------------------------------------------------


def _button(action_id: str, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": text, "emoji": True}}
    if style:
        button["style"] = style
    return button


def stop_blocks(ref: AnswerRef) -> list[dict[str, Any]]:
    """The Stop button shown while an answer is being written."""
    return [{"type": "actions",
             "elements": [_button(STOP, "Stop", ref.to_value(), style="danger")]}]


def regenerate_blocks(ref: AnswerRef) -> list[dict[str, Any]]:
    """The Regenerate button under a finished, stopped or failed answer."""
    return [{"type": "actions",
             "elements": [_button(REGENERATE, "Regenerate", ref.to_value())]}]


def feedback_blocks(interaction_id: str) -> list[dict[str, Any]]:
    """👍/👎 as Slack's `feedback_buttons` in a `context_actions` block."""
    def side(text: str, label: str, value: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text, "emoji": True},
                "accessibility_label": label,
                "value": Rating(interaction_id, value).to_value()}

    element = {
        "type": "feedback_buttons", "action_id": FEEDBACK,
        "positive_button": side("👍", "Good answer", POSITIVE),
        "negative_button": side("👎", "Bad answer", NEGATIVE),
    }
    return [{"type": "context_actions", "elements": [element]}]


def answer_blocks(ref: AnswerRef, interaction_id: str) -> list[dict[str, Any]]:
    """Controls under a complete answer: Regenerate, then feedback."""
    return [*regenerate_blocks(ref), *feedback_blocks(interaction_id)]


def note_blocks(text: str) -> list[dict[str, Any]]:
    """A short grey note under an answer (e.g. who stopped it)."""
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


# -- who may press ------------------------------------------------------------------------------


async def may_control(services: Services, user_id: str, asker: str) -> bool:
    """Whether `user_id` may Stop or Regenerate an answer `asker` asked for (or is an admin)."""
    if user_id == asker:
        return True
    try:
        resp = await services.slack.users_info(user=user_id)
    except SlackApiError as exc:
        log.warning("users_info_failed", user=user_id, error=exc.response.get("error"))
        return False
    user = resp.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner"))


async def tell(services: Services, *, channel: str, user: str, text: str,
               thread_ts: str | None = None) -> None:
    """Show `user` an ephemeral message (best effort: a failure is only logged)."""
    try:
        await services.slack.chat_postEphemeral(channel=channel, user=user, text=text,
                                                thread_ts=thread_ts)
    except SlackApiError as exc:
        log.warning("ephemeral_failed", channel=channel, error=exc.response.get("error"))
