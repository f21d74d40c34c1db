"""Digest rules (`daily HH:MM [zone]`, `weekly <day> HH:MM [zone]`) and when they next fire.

Fire times come from cronsim over zone-aware datetimes (zoneinfo + the tzdata package), so a
daily 09:00 Europe/Berlin digest fires at 09:00 local time on both sides of a DST change.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAILY_FORM = "digest daily HH:MM [zone]"
WEEKLY_FORM = "digest weekly <weekday> HH:MM [zone]"
DAY_S = 86_400
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class RuleError(ValueError):
    """A rule the user typed is wrong; the message names the problem and the right form."""


@dataclass(frozen=True, slots=True)
class Rule:
    """When a channel's digest fires: daily or weekly, at a local time in a time zone."""

    kind: Literal["daily", "weekly"]
    hour: int
    minute: int
    zone: str
    weekday: int | None = None
    """0 = Monday … 6 = Sunday (weekly rules only)."""

    @property
    def cron(self) -> str:
        """The rule as a cron expression (in the rule's zone)."""
        dow = "*" if self.weekday is None else str((self.weekday + 1) % 7)  # cron: 0 = Sunday
        return f"{self.minute} {self.hour} * * {dow}"

    @property
    def window_s(self) -> int:
        """How far back a digest of this rule reads: a day, or a week."""
        return DAY_S if self.kind == "daily" else 7 * DAY_S

    def describe(self) -> str:
        """E.g. `daily at 09:00` or `weekly on Monday at 09:00`."""
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.weekday is None:
            return f"daily at {at}"
        return f"weekly on {WEEKDAYS[self.weekday].capitalize()} at {at}"

    def next_after(self, after: float) -> float:
        """The first fire time strictly after unix time `after`."""
        start = datetime.fromtimestamp(after, ZoneInfo(self.zone))
        return next(iter(CronSim(self.cron, start))).timestamp()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for the schedule record)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Inverse of `to_dict`."""
        return cls(kind=data["kind"], hour=int(data["hour"]), minute=int(data["minute"]),
                   zone=str(data["zone"]), weekday=data.get("weekday"))


def parse_rule(kind: str, words: list[str], default_zone: str) -> Rule:
    """`daily HH:MM [zone]` or `weekly <day> HH:MM [zone]` (words after the kind)."""
    if kind == "daily":
        form, weekday = DAILY_FORM, None
    elif kind == "weekly":
        form = WEEKLY_FORM
        if not words:
            raise RuleError(f"a weekly digest needs a weekday. Use `{form}`, "
                            "e.g. `digest weekly mon 09:00 Europe/Berlin`.")
        weekday = parse_weekday(words[0])
        words = words[1:]
    else:
        raise RuleError(f"unknown digest schedule {kind!r}")
    if not words or len(words) > 2:
        raise RuleError(f"expected a time and an optional time zone. Use `{form}`, "
                        "e.g. `09:00 Europe/Berlin`.")
    hour, minute = parse_time(words[0], form)
    zone = check_zone(words[1], form) if len(words) == 2 else default_zone
    return Rule(kind, hour, minute, zone, weekday)  # type: ignore[arg-type]


def parse_time(text: str, form: str) -> tuple[int, int]:
    """HH:MM on a 24-hour clock."""
    match = _TIME.match(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise RuleError(f"`{text}` is not a time of day (HH:MM, 00:00–23:59). Use `{form}`.")
    return int(match[1]), int(match[2])


def parse_weekday(text: str) -> int:
    """A weekday name or its first three letters (any case)."""
    word = text.lower()
    for i, day in enumerate(WEEKDAYS):
        if word == day or word == day[:3]:
            return i
    raise RuleError(f"`{text}` is not a weekday (mon, tue, wed, thu, fri, sat, sun or the full "
                    f"name). Use `{WEEKLY_FORM}`.")


def check_zone(name: str, form: str = DAILY_FORM) -> str:
    """An IANA time zone name such as `Europe/Berlin` or `UTC`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"`{name}` is not a known time zone; use an IANA name such as "
                        f"`Europe/Berlin`, `America/New_York` or `UTC`. Form: `{form}`.") from None
    return name


def local_time(at: float, zone: str) -> str:
    """E.g. `Mon 30 Mar, 09:00 CEST` for showing a time in someone's zone."""
    when = datetime.fromtimestamp(at, ZoneInfo(zone))
    return when.strftime("%a %d %b, %H:%M %Z")
