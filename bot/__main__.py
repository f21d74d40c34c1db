"""`python -m bot`: read settings, then run the bot (exit code 2 on a configuration problem)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bot.config import ConfigError, load_settings
from bot.logs import configure_logging
from storage import StoreUnavailable


def main() -> int:
    """Run until interrupted; return the process exit code."""
    try:
        settings = load_settings()
    except ConfigError as err:
        print(err, file=sys.stderr)
        print("\nSee README.md ('Configuration') for every setting.", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from bot.app import serve  # imported after the settings check: a bad config fails fast

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except StoreUnavailable as err:
        print(f"The bot cannot start: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
