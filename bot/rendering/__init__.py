"""Render model Markdown into Slack messages that read well and stay within Slack's limits."""

from bot.rendering.mrkdwn import mrkdwn_sections, to_mrkdwn
from bot.rendering.plain import plain_text
from bot.rendering.render import render_answer, render_streaming
from bot.rendering.types import Limits, SlackMessage

__all__ = [
    "Limits",
    "SlackMessage",
    "mrkdwn_sections",
    "plain_text",
    "render_answer",
    "render_streaming",
    "to_mrkdwn",
]
