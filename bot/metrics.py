"""Prometheus metrics of one bot process, served at `GET /metrics`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "gemini_slack"
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """Every metric the bot exports, in a registry of its own (one per process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events_received = Counter(f"{PREFIX}_events_received", "Slack deliveries received, "
                                       "by type (event type, command, interactive)", ["type"],
                                       registry=r)
        self.events_acked = Counter(f"{PREFIX}_events_acked", "Slack deliveries answered over "
                                    "HTTP, by type and status code", ["type", "status"], registry=r)
        self.ack_seconds = Histogram(f"{PREFIX}_ack_seconds", "Time to answer a Slack delivery "
                                     "over HTTP", ["type"], buckets=FAST, registry=r)
        self.duplicates = Counter(f"{PREFIX}_duplicates_suppressed", "Deliveries of a message "
                                  "already claimed or answered (Slack retries, mention + message)",
                                  registry=r)
        self.turns = Counter(f"{PREFIX}_turns", "Answered turns by outcome", ["outcome"],
                             registry=r)
        self.first_text_seconds = Histogram(f"{PREFIX}_time_to_first_text_seconds", "From "
                                            "accepting a message to its answer's first text",
                                            buckets=SLOW, registry=r)
        self.turn_seconds = Histogram(f"{PREFIX}_turn_duration_seconds", "From the start of an "
                                      "answer to its final write", buckets=SLOW, registry=r)
        self.gemini_errors = Counter(f"{PREFIX}_gemini_errors", "Failed Gemini calls by method "
                                     "and code", ["method", "code"], registry=r)
        self.slack_errors = Counter(f"{PREFIX}_slack_errors", "Failed Slack Web API calls by "
                                    "method and error code", ["method", "code"], registry=r)
        self.slack_rate_limited = Counter(f"{PREFIX}_slack_rate_limited", "429 answers from "
                                          "Slack by method (retried or not)", ["method"],
                                          registry=r)
        self.slack_retry_wait_seconds = Counter(f"{PREFIX}_slack_retry_wait_seconds", "Seconds "
                                                "spent waiting out Slack's Retry-After",
                                                registry=r)
        self.tokens = Counter(f"{PREFIX}_gemini_tokens", "Tokens used by answered turns",
                              registry=r)
        self.queued_threads = Gauge(f"{PREFIX}_threads_with_queued_turns", "Threads with turns "
                                    "waiting in the store (as of the last recovery sweep)",
                                    registry=r)
        self.turns_in_flight = Gauge(f"{PREFIX}_turns_in_flight", "Turn tasks in this process",
                                     registry=r)
        self.spooled = Gauge(f"{PREFIX}_spooled_messages", "Messages waiting in the local spool "
                             "for the store to come back", registry=r)
        self.store_up = Gauge(f"{PREFIX}_store_up", "1 while the store answers", registry=r)
        self.pending_jobs = Gauge(f"{PREFIX}_pending_jobs", "Jobs waiting in the store: running "
                                  "background agent runs and digest schedules (read per scrape)",
                                  registry=r)

    def watch(self, *, in_flight: Callable[[], float], spooled: Callable[[], float],
              store_up: Callable[[], float]) -> None:
        """Gauges read from the process when scraped."""
        self.turns_in_flight.set_function(in_flight)
        self.spooled.set_function(spooled)
        self.store_up.set_function(store_up)

    def slack_error(self, method: str, code: str, status: int) -> None:
        """Count a failed Web API call (hook of bot.slack_client.SlackClient)."""
        self.slack_errors.labels(method, code).inc()
        if status == 429 or code == "ratelimited":
            self.slack_rate_limited.labels(method).inc()

    def slack_retry_wait(self, method: str, seconds: float) -> None:
        """Count a 429 that the client waits out and retries."""
        self.slack_rate_limited.labels(method).inc()
        self.slack_retry_wait_seconds.inc(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def delivery_type(body: dict[str, Any]) -> str:
    """What a Slack delivery is: the event type, "command", or the interactive payload type."""
    event = body.get("event")
    if isinstance(event, dict):
        return str(event.get("type") or "event")
    if "command" in body:
        return "command"
    payload = body.get("payload")
    if isinstance(payload, dict):
        return str(payload.get("type") or "interactive")
    return str(body.get("type") or "unknown")


class FirstTextTimer:
    """Wraps an answer stream to observe the time to its first pushed text."""

    def __init__(self, stream: Any, since: float | None, metrics: Metrics) -> None:
        self._stream = stream
        self._since = since
        self._metrics = metrics
        self._seen = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # a transparent proxy: isinstance() sees the stream
        return type(self._stream)

    def push(self, markdown_so_far: str) -> None:
        """Offer the answer so far (the first non-empty text is timed)."""
        if markdown_so_far and not self._seen:
            self._seen = True
            if self._since is not None:
                self._metrics.first_text_seconds.observe(max(0.0, time.time() - self._since))
        self._stream.push(markdown_so_far)

    async def finish(self, markdown: str, extra_blocks: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write the complete answer (timed as the first text if nothing was pushed before)."""
        if not self._seen:
            self.push(markdown)
        return list(await self._stream.finish(markdown, extra_blocks))
