"""One model request turning a window's messages into a `Digest` (structured output).

The request asks for JSON matching `Digest`'s schema (`response_format`); the answer is parsed
and validated with pydantic. An answer that is not valid gets one retry, then a plain-text
summary is asked for instead, so a digest never comes out empty-handed.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.genai import _interactions as gx
from pydantic import ValidationError

from bot.digests.schema import Digest, response_format
from bot.gemini import describe_api_error
from bot.logs import get_logger
from bot.services import Services
from storage.channel_log import LoggedMessage

log = get_logger("digests.summarize")

MAX_MESSAGE_CHARS = 1_500
MAX_INPUT_CHARS = 400_000
"""Transcript budget (about 100k tokens); the oldest messages are left out beyond it."""

INSTRUCTION = (
    "You write digests of a team's Slack channel. You get a transcript, one message per line: "
    "`[ts] <@user> text` (replies are marked `↳ in thread [parent ts]`). Summarise it as JSON "
    "for the given schema: the main topics with a one-line summary each, decisions, action "
    "items (owner as the Slack user id when stated, due date as stated), and open questions. "
    "Every item lists in `sources` the ts of the message(s) it comes from, copied exactly. "
    "Write in the language the channel uses. Leave a list empty when there is nothing for it."
)
PLAIN_INSTRUCTION = (
    "Summarise this Slack channel transcript for a busy team member in at most ten short "
    "bullet points: topics, decisions, action items with owners, open questions."
)


@dataclass
class Summary:
    """The digest (or, when structured output failed twice, plain text) and its input size."""

    digest: Digest | None
    text: str | None
    input_chars: int
    attempts: int


def transcript(messages: list[LoggedMessage]) -> str:
    """The messages as lines for the model, newest kept when over the budget."""
    lines: list[str] = []
    size = 0
    for m in reversed(messages):
        text = " ".join(m.text.split())
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS] + "…"
        where = f" ↳ in thread [{m.thread_ts}]" if m.thread_ts else ""
        line = f"[{m.ts}] <@{m.user}>{where} {text}"
        if size + len(line) + 1 > MAX_INPUT_CHARS:
            lines.append(f"(… {len(messages) - len(lines)} older messages left out)")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(reversed(lines))


async def summarize(services: Services, channel_label: str, period: str,
                    messages: list[LoggedMessage]) -> Summary:
    """Ask the model for the digest of `messages` (GeminiError when the model is unreachable)."""
    settings = services.settings
    prompt = f"Channel {channel_label}, {period}. Transcript:\n{transcript(messages)}"
    known = {m.ts for m in messages}
    attempts = 0
    for attempt in (1, 2):
        attempts = attempt
        text = await _create(services, model=settings.gemini_model, input=prompt,
                             system_instruction=INSTRUCTION, response_format=response_format(),
                             store=False)
        try:
            digest = Digest.model_validate_json(text)
        except ValidationError as exc:
            log.warning("digest_invalid_json", attempt=attempt, errors=exc.error_count())
            continue
        return Summary(_only_known(digest, known), None, len(prompt), attempts)
    text = await _create(services, model=settings.gemini_model, input=prompt,
                         system_instruction=PLAIN_INSTRUCTION, store=False)
    log.warning("digest_fell_back_to_text", chars=len(text))
    return Summary(None, text.strip() or "(the model returned no summary)", len(prompt),
                   attempts + 1)


async def _create(services: Services, **body: object) -> str:
    try:
        interaction = await services.gemini.aio.interactions.create(**body)  # type: ignore[arg-type]
    except gx.APIError as exc:
        raise describe_api_error(exc) from exc
    return interaction.output_text or ""


def _only_known(digest: Digest, known: set[str]) -> Digest:
    """Drop sources the transcript does not contain (a model may invent a ts)."""
    for item in [*digest.topics, *digest.decisions, *digest.action_items,
                 *digest.open_questions]:
        item.sources = [ts for ts in item.sources if ts in known]
    return digest
