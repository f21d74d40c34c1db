"""Slack listeners: each module registers the listeners for one Slack surface."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import actions, agent_actions, commands, messages, shortcuts


def register_all(app: AsyncApp, services: Services) -> None:
    """Attach every listener to `app`."""
    messages.register(app, services)
    actions.register(app, services)
    commands.register(app, services)
    agent_actions.register(app, services)
    shortcuts.register(app, services)
