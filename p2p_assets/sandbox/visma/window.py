"""The daily call window of Visma's weekly and daily plans ("2 hours per day"). Visma assigns it
per application and does not publish it, so the sandbox takes it as configuration:

    window := [days ' '] HH:MM '-' HH:MM [' ' zone]
    days   := day (',' day)*     Mon Tue Wed Thu Fri Sat Sun or the full names, any case
    zone   := an IANA name, e.g. Europe/Amsterdam (default UTC)

e.g. `06:00-08:00`, `Mon 06:00-08:00`, `Mon,Thu 06:00-08:00 Europe/Amsterdam`. A window includes
its start and excludes its end (06:00 is in, 08:00 is out). Without days every day has a window
(the plan's cap on window days a month still applies). An end at or before the start runs past
midnight; such a window belongs to the day it starts on.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GRAMMAR = re.compile(
    r"^(?:(?P<days>[A-Za-z]+(?:\s*,\s*[A-Za-z]+)*)\s+)?"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})"
    r"(?:\s+(?P<zone>\S+))?$"
)


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    zone: ZoneInfo
    days: frozenset[int] | None = None
    """Weekdays (0 = Monday) that have a window; None: every day."""

    def day_of(self, now: float) -> date | None:
        """The date, in the window's zone, of the window `now` (epoch seconds) falls in; None
        when `now` is outside every window."""
        local = datetime.fromtimestamp(now, self.zone)
        moment = local.time()
        if self.start < self.end:
            day = local.date() if self.start <= moment < self.end else None
        elif moment >= self.start:
            day = local.date()
        elif moment < self.end:
            day = local.date() - timedelta(days=1)
        else:
            day = None
        if day is None or (self.days is not None and day.weekday() not in self.days):
            return None
        return day

    def __str__(self) -> str:
        days = (
            ",".join(DAY_NAMES[d][:3].title() for d in sorted(self.days)) + " "
            if self.days is not None
            else ""
        )
        return f"{days}{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


def _day(name: str) -> int:
    lowered = name.lower()
    for index, full in enumerate(DAY_NAMES):
        if lowered in (full, full[:3]):
            return index
    raise ValueError(f"unknown weekday {name!r} in the window (Mon, Tue, ... or Monday, ...)")


def _clock(text: str) -> time:
    try:
        return datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise ValueError(f"invalid time {text!r} in the window (HH:MM, 00:00 to 23:59)") from None


def parse_window(text: str) -> Window:
    """The window `text` describes; ValueError naming what cannot be read."""
    match = _GRAMMAR.match(text.strip())
    if match is None:
        raise ValueError(
            f"invalid window {text!r}: expected e.g. '06:00-08:00', 'Mon 06:00-08:00' or "
            "'Mon,Thu 06:00-08:00 Europe/Amsterdam'"
        )
    start, end = _clock(match["start"]), _clock(match["end"])
    if start == end:
        raise ValueError(f"invalid window {text!r}: it starts when it ends")
    try:
        zone = ZoneInfo(match["zone"] or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {match['zone']!r} in the window") from None
    days = (
        frozenset(_day(name.strip()) for name in match["days"].split(","))
        if match["days"]
        else None
    )
    return Window(start, end, zone, days)
