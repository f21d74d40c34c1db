"""`python -m bot` without Slack credentials: start the playground and say how to switch."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys

from bot.config import ConfigError
from bot.logs import configure_logging
from playground.stack import start_playground
from storage import StoreUnavailable

HOST = "127.0.0.1"
SWITCH = ("to run in Slack set SLACK_BOT_TOKEN plus SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN "
          "for Socket Mode); see README.md")


def _port() -> int:
    """PORT from the environment (3000 by default); ConfigError when it is not a port."""
    raw = os.environ.get("PORT", "3000").strip() or "3000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError("The playground cannot start: PORT must be a number from 1 to 65535.")
    return int(raw)


def banner(url: str, offline: bool) -> str:
    """The one line printed at start: where, which mode, how to switch."""
    model = ("offline demo model (set GEMINI_API_KEY for real answers)" if offline
             else "real Gemini API")
    return f"Playground (no Slack credentials set): open {url} — {model}; {SWITCH}."


async def _serve(port: int) -> None:
    playground = await start_playground(HOST, port)
    print(banner(playground.url, playground.gemini is not None), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await playground.stop()


def main() -> int:
    """Run the playground until interrupted; return the exit code (2 when it cannot start)."""
    try:
        port = _port()
        configure_logging(os.environ.get("LOG_LEVEL", "error").lower(),  # type: ignore[arg-type]
                          os.environ.get("LOG_FORMAT", "console").lower())  # type: ignore[arg-type]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(port))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except StoreUnavailable as err:
        print(f"The playground cannot start: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        print(f"The playground cannot start: port {port} is in use; set PORT to another port.",
              file=sys.stderr)
        return 2
    return 0
