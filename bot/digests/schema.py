"""What a digest says, as pydantic models: the JSON schema the model must answer in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_SOURCES = 3
"""Source messages shown per item."""


class Sourced(BaseModel):
    """An item that points at the message(s) it came from."""

    sources: list[str] = Field(
        default_factory=list,
        description="The `ts` values (e.g. 1700000000.000100) of the messages this item comes "
                    "from, copied exactly from the transcript.")


class Topic(Sourced):
    """A subject the channel talked about."""

    title: str = Field(description="The topic in a few words.")
    summary: str = Field(description="One line saying what was said about it.")


class Decision(Sourced):
    """Something the channel agreed on."""

    text: str = Field(description="The decision, in one line.")


class ActionItem(Sourced):
    """Work someone is to do."""

    task: str = Field(description="What is to be done, in one line.")
    owner: str | None = Field(
        default=None, description="The Slack user id (e.g. U123ABC) of who does it, when stated.")
    due: str | None = Field(default=None, description="The due date as stated, when stated.")


class OpenQuestion(Sourced):
    """A question nobody answered yet."""

    question: str = Field(description="The open question, in one line.")


class Digest(BaseModel):
    """A channel's digest for a time window."""

    topics: list[Topic] = Field(default_factory=list, description="Main topics, most active first.")
    decisions: list[Decision] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    open_questions: list[OpenQuestion] = Field(default_factory=list)

    def is_empty(self) -> bool:
        """Nothing worth posting was found."""
        return not (self.topics or self.decisions or self.action_items or self.open_questions)

    def cited(self) -> list[str]:
        """Every source ts the digest cites (each once, in order)."""
        seen: dict[str, None] = {}
        for item in [*self.topics, *self.decisions, *self.action_items, *self.open_questions]:
            for ts in item.sources[:MAX_SOURCES]:
                seen.setdefault(ts, None)
        return list(seen)


def response_format() -> dict[str, Any]:
    """The Interactions API `response_format` asking for a `Digest` as JSON."""
    return {"type": "text", "mime_type": "application/json",
            "schema": Digest.model_json_schema()}
