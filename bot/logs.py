"""Structured logging set-up (structlog over the standard library)."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET = re.compile(r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|AIza[0-9A-Za-z_\-]{20,})")


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Mask anything shaped like a Slack or Google token, wherever it appears."""
    for k, v in event.items():
        if isinstance(v, str) and _SECRET.search(v):
            event[k] = _SECRET.sub("[redacted]", v)
    return event


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    """Route structlog and stdlib logs to stderr at `level`, as console lines or JSON."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            _redact,  # after format_exc_info, so tracebacks are masked too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=sys.stderr)
    # The SDKs log request bodies (message text) at DEBUG; keep them at WARNING.
    for noisy in ("slack_bolt", "slack_sdk", "httpx2", "google_genai", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
