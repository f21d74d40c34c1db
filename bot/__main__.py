"""`python -m bot`: read settings, then run the bot (exit code 2 on a configuration problem).

With no Slack credentials at all it opens the local playground instead (see playground/).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bot.config import ConfigError, load_settings, slack_configured
from bot.logs import configure_logging
from storage import StoreUnavailable


def main() -> int:
    """Run until interrupted; return the process exit code."""
    if not slack_configured():
        from playground.launch import main as run_playground

        return run_playground()
    try:
        settings = load_settings()
    except ConfigError as err:
        print(err, file=sys.stderr)
        print("\nSee README.md ('Configuration') for every setting.", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from bot.app import serve  # imported after the settings check: a bad config fails fast

    mode = "Socket Mode" if settings.socket_mode else f"HTTP on port {settings.port}"
    print(f"Slack mode ({mode}): answering in your Slack workspace; unset the SLACK_* "
          "settings to open the local playground instead.", flush=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except StoreUnavailable as err:
        print(f"The bot cannot start: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
