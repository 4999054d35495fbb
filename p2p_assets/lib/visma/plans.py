"""Visma's usage plans and the daily call window, as the manual's usage table gives them.

    plan        calls                                   auth calls   concurrent   spike arrest
    weekly      2-hour window a day, 1000 per window,    7 a month    1            100 a minute
                windows on 7 days a month
    daily       2-hour window a day, 1000 per window,   40 a month    1            100 a minute
                windows on 40 days a month
    continuous  6000 a day                             400 a month    3            100 a minute

The window itself is not published (Visma assigns it), so it is configuration: `VISMA_WINDOW`,
e.g. `06:00-08:00`, `Mon 06:00-08:00` or `Mon,Thu 06:00-08:00 Europe/Amsterdam` (days and zone
optional; the zone defaults to the machine's local time). On the weekly plan a window without
days means Mondays: seven window days a month cannot cover every day.

`poll_due` is the sensor's schedule, a pure function of the plan, the window, the last poll and
the time: inside the window (or always, on the continuous plan) at most once per poll interval.
"""

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class WindowError(ValueError):
    """A `VISMA_WINDOW` that cannot be read (the message names the variable and the value)."""


@dataclass(frozen=True)
class Plan:
    name: str
    auth_calls_per_month: int
    concurrency: int
    windowed: bool
    calls_per_window: int | None = None
    window_days_per_month: int | None = None
    calls_per_day: int | None = None
    poll_seconds: float = 900.0
    """How often the sensor lists files by default (one call lists every subscribed type): every
    30 minutes inside a window (four listings of its 1000 calls), every 15 minutes on the
    continuous plan (96 a day of its 6000 calls), as often as Basware is polled."""

    def describe(self) -> str:
        if self.windowed:
            calls = (
                f"calls only in a 2-hour window a day, {self.calls_per_window} per window, "
                f"windows on {self.window_days_per_month} days a month"
            )
        else:
            calls = f"{self.calls_per_day} calls a day"
        return (
            f"Visma's {self.name} plan: {calls}, {self.auth_calls_per_month} authentication calls "
            f"a month, {self.concurrency} concurrent call(s)"
        )


PLANS = {
    "weekly": Plan("weekly", 7, 1, True, 1000, 7, poll_seconds=1800.0),
    "daily": Plan("daily", 40, 1, True, 1000, 40, poll_seconds=1800.0),
    "continuous": Plan("continuous", 400, 3, False, calls_per_day=6000, poll_seconds=900.0),
}
WINDOW_HOURS = 2
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def plan_named(name: str) -> Plan:
    if name not in PLANS:
        raise ValueError(f"VISMA_PLAN must be one of {', '.join(PLANS)}, not {name!r}")
    return PLANS[name]


@dataclass(frozen=True)
class Window:
    """A daily call window in a time zone, on some weekdays (0 = Monday)."""

    start: clock_time
    end: clock_time
    zone: tzinfo
    days: frozenset[int] = frozenset(range(7))

    @property
    def length(self) -> timedelta:
        start = datetime.combine(date(2000, 1, 3), self.start)
        end = datetime.combine(date(2000, 1, 3), self.end)
        return (end - start) if end > start else (end + timedelta(days=1) - start)

    def describe(self) -> str:
        days = "" if len(self.days) == 7 else ",".join(DAYS[d].title() for d in sorted(self.days))
        zone = getattr(self.zone, "key", None) or str(self.zone)
        span = f"{self.start:%H:%M}-{self.end:%H:%M}"
        return " ".join(part for part in (days, span, zone) if part)

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.start, tzinfo=self.zone)

    def current(self, moment: float) -> tuple[datetime, datetime] | None:
        """(opens, closes) of the window `moment` is in, else None."""
        local = datetime.fromtimestamp(moment, self.zone)
        for day in (local.date(), local.date() - timedelta(days=1)):  # one may cross midnight
            if day.weekday() not in self.days:
                continue
            opens = self._opening(day)
            closes = opens + self.length
            if opens.timestamp() <= moment < closes.timestamp():
                return opens, closes
        return None

    def key(self, moment: float) -> str | None:
        """The window's name in the ledger (its opening date), or None outside a window."""
        span = self.current(moment)
        return span[0].date().isoformat() if span else None

    def next_opening(self, moment: float) -> datetime:
        """The start of the next window after `moment` (a window `moment` is in counts as past)."""
        day = datetime.fromtimestamp(moment, self.zone).date()
        for offset in range(0, 15):
            candidate = day + timedelta(days=offset)
            opens = self._opening(candidate)
            if candidate.weekday() in self.days and opens.timestamp() > moment:
                return opens
        raise AssertionError("a window opens at least once a week")

    def openings_after(self, moment: float, until: float) -> int:
        """How many windows open after `moment` and before `until` (the month's remaining ones)."""
        count, cursor = 0, moment
        while True:
            opens = self.next_opening(cursor)
            if opens.timestamp() >= until:
                return count
            count, cursor = count + 1, opens.timestamp()


def local_zone() -> tzinfo:
    """The machine's time zone: `TZ` when set, else /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with Path("/etc/localtime").open("rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return UTC


def parse_window(
    text: str, plan: Plan, *, variable: str = "VISMA_WINDOW", default_zone: tzinfo | None = None
) -> Window:
    """`[days ]HH:MM-HH:MM[ zone]`, at most two hours long (the plan's window); without a zone,
    `default_zone` (default: the machine's local time)."""
    parts = text.split()
    problem = (
        f"{variable}={text!r}: expected e.g. '06:00-08:00' or 'Mon 06:00-08:00 Europe/Amsterdam'"
    )
    span_at = next((i for i, p in enumerate(parts) if "-" in p and ":" in p), None)
    if span_at is None or span_at > 1 or len(parts) > span_at + 2:
        raise WindowError(problem)
    days: frozenset[int] | None = None
    if span_at == 1:
        days = _days(parts[0], problem)
    try:
        start_text, end_text = parts[span_at].split("-")
        start = clock_time.fromisoformat(start_text)
        end = clock_time.fromisoformat(end_text)
    except ValueError:
        raise WindowError(problem) from None
    zone = default_zone or local_zone()
    if len(parts) == span_at + 2:
        try:
            zone = ZoneInfo(parts[-1])
        except (ZoneInfoNotFoundError, ValueError):
            raise WindowError(f"{variable}: unknown time zone {parts[-1]!r}") from None
    if days is None:
        days = frozenset({0}) if plan.name == "weekly" else frozenset(range(7))
    window = Window(start, end, zone, days)
    if start == end or window.length > timedelta(hours=WINDOW_HOURS):
        raise WindowError(f"{variable}={text!r}: the {plan.name} plan's window is 2 hours or less")
    return window


_DAY_NAMES = {
    name: index
    for index, (short, full) in enumerate(zip(DAYS, FULL_DAYS, strict=True))
    for name in (short, full)
}


def _days(text: str, problem: str) -> frozenset[int]:
    """`Mon,Thu` or `Mon-Fri` (names or three-letter abbreviations, any case); anything else is
    refused, never guessed at."""
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().lower().partition("-")
        if first not in _DAY_NAMES or (dash and last not in _DAY_NAMES):
            raise WindowError(f"{problem} (days are Mon, Tue, ... Sun, e.g. Mon,Thu or Mon-Fri)")
        start, end = _DAY_NAMES[first], _DAY_NAMES[last] if dash else _DAY_NAMES[first]
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    return frozenset(days)


@dataclass(frozen=True)
class PollDecision:
    due: bool
    reason: str


def poll_due(
    plan: Plan, window: Window | None, last_poll: float | None, now: float, interval: float
) -> PollDecision:
    """Whether the sensor lists files now: on windowed plans only inside the window (its first
    tick, then every `interval`), on the continuous plan every `interval`."""

    def at(moment: datetime) -> str:
        return f"{moment:%a %Y-%m-%d %H:%M %Z}"

    if plan.windowed:
        if window is None:
            return PollDecision(False, f"the {plan.name} plan needs VISMA_WINDOW")
        span = window.current(now)
        if span is None:
            return PollDecision(
                False,
                f"outside Visma's call window: the {plan.name} plan allows calls only in "
                f"{window.describe()}; the next window opens {at(window.next_opening(now))}",
            )
        if last_poll is None or last_poll < span[0].timestamp():
            return PollDecision(True, "the window is open")
    elif last_poll is None:
        return PollDecision(True, "first poll")
    if now - last_poll >= interval:
        return PollDecision(True, f"{interval:.0f} s since the last poll")
    next_at = datetime.fromtimestamp(last_poll + interval, window.zone if window else UTC)
    return PollDecision(False, f"polled {now - last_poll:.0f} s ago; next poll {at(next_at)}")
