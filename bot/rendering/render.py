"""Public entry points: final answers and interim (streaming) renders → Slack messages."""

from __future__ import annotations

from typing import Any

from bot.rendering.pack import EMPTY_TEXT, Packer
from bot.rendering.partial import repair_partial
from bot.rendering.slack_text import TokenShield
from bot.rendering.tree import parse
from bot.rendering.types import DEFAULT_LIMITS, Limits, SlackMessage


def render_answer(markdown: str, *, limits: Limits = DEFAULT_LIMITS,
                  extra_blocks: list[dict[str, Any]] | None = None) -> list[SlackMessage]:
    """Final answer → one or more Slack messages, in order, nothing lost.

    Body text goes into `markdown` blocks (standard Markdown, rendered by Slack), tables into
    `table` blocks, `---` into `divider` blocks. `extra_blocks` (buttons, feedback, sources)
    end the last message and count toward its limits; if they don't fit there they get a
    message of their own.
    """
    messages = _render(markdown, limits).messages_out(list(extra_blocks or []))
    return messages or [SlackMessage(text=EMPTY_TEXT, blocks=[])]


def render_streaming(markdown_so_far: str, *,
                     limits: Limits = DEFAULT_LIMITS) -> list[SlackMessage]:
    """Interim render of a partial answer: open fences closed, half-written links and dangling
    `**` removed or closed. May return several messages; earlier ones stay stable as text grows.
    """
    return _render(repair_partial(markdown_so_far), limits).messages_out([])


def _render(markdown: str, limits: Limits) -> Packer:
    shield = TokenShield()
    packer = Packer(shield, limits)
    for node in parse(shield.protect(markdown)):
        packer.add_node(node)
    return packer
