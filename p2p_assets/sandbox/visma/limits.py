"""The usage plan's caps on API calls as a pure function of the sandbox clock.

`Limits.gate(now)` says which counters one API call at `now` would increment and up to what cap;
`VismaState.admit` checks and counts them in the same transaction as the spike arrest and the
concurrency limit, so a refused call counts toward no cap (Apigee counts admitted calls only).

    counter                      plan          cap
    calls:window:<YYYY-MM-DD>    weekly/daily  calls_per_window (1000); the date is the window's
    window_days:<YYYY-MM>        weekly/daily  window_days_per_month (7, 40), counted by the
                                               first admitted call of each window
    calls:day:<YYYY-MM-DD>       every plan    calls_per_day (6000 on continuous), UTC day
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from p2p_assets.sandbox.visma.config import VismaSandboxConfig
from p2p_assets.sandbox.visma.window import parse_window

DEFAULT_WINDOW = "06:00-08:00"


@dataclass(frozen=True)
class Quota:
    """A counter an admitted call increments; at `cap` the call is refused for `refusal`."""

    counter: str
    cap: int | None
    refusal: str


@dataclass(frozen=True)
class Gate:
    """What admitting one API call at one moment means."""

    outside_window: bool
    quotas: tuple[Quota, ...]
    window_days: Quota | None = None
    """Counted (and capped) only when this call opens its window: `quotas[0]` is still 0."""


class Limits:
    def __init__(self, config: VismaSandboxConfig):
        self.plan = config.usage
        self.enforce = config.enforce_limits
        self.window = parse_window(config.window or DEFAULT_WINDOW) if self.plan.windowed else None
        self.per_window = _override(config.calls_per_window, self.plan.calls_per_window)
        self.per_day = _override(config.calls_per_day, self.plan.calls_per_day)

    def _cap(self, cap: int | None) -> int | None:
        return cap if self.enforce else None

    def gate(self, now: float) -> Gate:
        day = Quota(
            f"calls:day:{datetime.fromtimestamp(now, UTC):%Y-%m-%d}",
            self._cap(self.per_day),
            "day_quota",
        )
        if self.window is None:
            return Gate(False, (day,))
        window_day = self.window.day_of(now)
        if window_day is None:
            return Gate(self.enforce, (day,))
        window = Quota(f"calls:window:{window_day}", self._cap(self.per_window), "window_quota")
        days = Quota(
            f"window_days:{window_day:%Y-%m}",
            self._cap(self.plan.window_days_per_month),
            "window_days",
        )
        return Gate(False, (window, day), days)

    def token_refused(self, now: float) -> bool:
        """Token calls are no API calls, but the windowed plans refuse them outside the window."""
        return self.enforce and self.window is not None and self.window.day_of(now) is None

    def describe(self, refusal: str) -> str:
        """The limit a quota refusal hit, for the fault's faultstring."""
        return {
            "outside_window": f"API calls are allowed only inside the time window {self.window}",
            "window_quota": f"{self.per_window} API calls within the time window",
            "day_quota": f"{self.per_day} API calls per day",
            "window_days": f"time windows on {self.plan.window_days_per_month} days per month",
            "auth_quota": f"{self.plan.auth_calls_per_month} authentication calls per month",
        }[refusal]


def _override(value: int | None, default: int | None) -> int | None:
    return default if value is None else value
