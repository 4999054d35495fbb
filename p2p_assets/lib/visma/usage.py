"""Keeping to the plan across every process: a ledger of calls and tokens, and concurrency slots.

The spike arrest (pacing.py) spaces departures; the plan's other limits are budgets and a
concurrency cap that no single process can see alone, since sensor ticks, run workers and
`p2p-assets sync` all call the same app. So every call is admitted here first:

- `UsageLedger` (`{P2P_DATA_DIR}/visma/usage.json`, under a file lock) counts API calls per window
  and per day, window days and tokens per month, and refuses a call the plan does not allow
  (outside the window, beyond a cap) with `VismaQuotaError` *before* it is sent. Tokens: on the
  windowed plans one token serves a window (both last two hours); a second one in the same
  window is allowed only while the month's remaining tokens exceed its remaining windows.
- `ConcurrencySlots`: one lock file per concurrent call the plan allows; a call holds one from
  departure until its answer's body is closed (a streamed download holds it to the end). A killed
  process releases its slot with its file descriptors.

The ledger counts what this machine sent, a lower bound of what Visma counts if other machines
use the same app.
"""

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.locks import ensure_private_dir, file_lock, write_private_atomically
from p2p_assets.lib.visma.errors import VismaError, VismaQuotaError
from p2p_assets.lib.visma.plans import Plan, Window

KEEP_DAYS = 70  # older entries are dropped: the current and the previous month matter


class VismaConcurrencyError(VismaError):
    """Every concurrent call the plan allows stayed busy for longer than the caller would wait."""


def _month(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m")


def _day(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def _month_end(moment: float) -> float:
    first = datetime.fromtimestamp(moment, UTC).replace(day=1, hour=0, minute=0, second=0,
                                                          microsecond=0)  # fmt: skip
    return (first + timedelta(days=32)).replace(day=1).timestamp()


class UsageLedger:
    """What this app spent, per window, day and month, and what the plan still allows."""

    def __init__(
        self, path: Path | str, plan: Plan, window: Window | None, *, app: str = "default"
    ) -> None:
        if plan.windowed and window is None:
            raise VismaError(f"The {plan.name} plan needs a call window (VISMA_WINDOW)")
        self.path = Path(path)
        self.plan = plan
        self.window = window
        self.app = app

    # --- reading ---------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        entry = data.get(self.app) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else {}

    @staticmethod
    def _count(entry: dict[str, Any], kind: str, key: str | None) -> int:
        counts = entry.get(kind)
        return int(counts.get(key, 0)) if isinstance(counts, dict) and key else 0

    def usage(self, now: float | None = None) -> dict[str, int]:
        """This window's, day's and month's counts (for reports and tests)."""
        now = clocks.current().time() if now is None else now
        entry = self._load()
        window = self.window.key(now) if self.window else None
        return {
            "calls_this_window": self._count(entry, "calls_window", window),
            "calls_today": self._count(entry, "calls_day", _day(now)),
            "window_days_this_month": len(entry.get("window_days", {}).get(_month(now), [])),
            "tokens_this_month": self._count(entry, "tokens", _month(now)),
        }

    def call_refusal(self, now: float | None = None) -> str | None:
        """Why the plan allows no API call now, or None."""
        now = clocks.current().time() if now is None else now
        return self._call_refusal(self._load(), now)

    def _call_refusal(self, entry: dict[str, Any], now: float) -> str | None:
        plan = self.plan
        if plan.windowed:
            assert self.window is not None
            window = self.window.key(now)
            if window is None:
                opens = self.window.next_opening(now)
                return (
                    f"outside the call window {self.window.describe()} of {plan.describe()}; "
                    f"the next window opens {opens:%a %Y-%m-%d %H:%M %Z}"
                )
            if self._count(entry, "calls_window", window) >= (plan.calls_per_window or 0):
                return f"this window's {plan.calls_per_window} calls are used ({plan.describe()})"
            days = entry.get("window_days", {}).get(_month(now), [])
            if window not in days and len(days) >= (plan.window_days_per_month or 0):
                return (
                    f"this month's {plan.window_days_per_month} window days are used "
                    f"({plan.describe()})"
                )
        elif self._count(entry, "calls_day", _day(now)) >= (plan.calls_per_day or 0):
            return f"today's {plan.calls_per_day} calls (UTC day) are used ({plan.describe()})"
        return None

    def _token_refusal(self, entry: dict[str, Any], now: float) -> str | None:
        plan = self.plan
        refusal = self._call_refusal(entry, now)  # a token is only worth a call it allows
        if refusal:
            return refusal
        used = self._count(entry, "tokens", _month(now))
        if used >= plan.auth_calls_per_month:
            return (
                f"{used} of the {plan.auth_calls_per_month} authentication calls of "
                f"{_month(now)} are used ({plan.describe()}); a new token must wait for next month"
            )
        if not plan.windowed:
            return None
        assert self.window is not None
        window = self.window.key(now)
        if self._count(entry, "tokens_window", window) == 0:
            return None
        ahead = self.window.openings_after(now, _month_end(now))
        days_left = (plan.window_days_per_month or 0) - len(
            entry.get("window_days", {}).get(_month(now), [])
        )
        left = plan.auth_calls_per_month - used
        if left <= min(ahead, max(0, days_left)):
            return (
                f"this window already had its token, and the month's {left}"
                f" remaining authentication calls are needed for its {ahead} remaining windows "
                f"({plan.describe()})"
            )
        return None

    # --- spending ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            try:
                data = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                data = {}
            data = data if isinstance(data, dict) else {}
            entry = data.setdefault(self.app, {})
            yield entry
            _prune(entry)
            write_private_atomically(self.path, json.dumps(data).encode(), durable=False)

    def spend_call(self) -> None:
        """Count one API call, or raise `VismaQuotaError` (nothing counted) if it is not allowed."""
        now = clocks.current().time()
        with self._locked() as entry:
            refusal = self._call_refusal(entry, now)
            if refusal:
                raise VismaQuotaError(f"Visma: no call sent: {refusal}")
            _bump(entry, "calls_day", _day(now))
            if self.window is not None:
                window = self.window.key(now)
                assert window is not None
                _bump(entry, "calls_window", window)
                days = entry.setdefault("window_days", {}).setdefault(_month(now), [])
                if window not in days:
                    days.append(window)

    def check_token(self) -> None:
        """Raise `VismaQuotaError` if the plan allows no new token now."""
        now = clocks.current().time()
        refusal = self._token_refusal(self._load(), now)
        if refusal:
            raise VismaQuotaError(f"Visma: no token requested: {refusal}")

    def spend_token(self) -> int:
        """Count one successful authentication; the month's count."""
        now = clocks.current().time()
        with self._locked() as entry:
            _bump(entry, "tokens", _month(now))
            if self.window is not None and (window := self.window.key(now)):
                _bump(entry, "tokens_window", window)
            return self._count(entry, "tokens", _month(now))


def _bump(entry: dict[str, Any], kind: str, key: str) -> None:
    counts = entry.setdefault(kind, {})
    counts[key] = int(counts.get(key, 0)) + 1


def _prune(entry: dict[str, Any]) -> None:
    now = datetime.fromtimestamp(clocks.current().time(), UTC)
    oldest = (now - timedelta(days=KEEP_DAYS)).date().isoformat()
    for counts in entry.values():
        if isinstance(counts, dict):
            for key in [k for k in counts if k < oldest[: len(k)]]:
                del counts[key]


class ConcurrencySlots:
    """At most `n` calls in flight across processes: `n` lock files, one held per call."""

    def __init__(self, directory: Path | str, n: int, *, wait_seconds: float = 300.0) -> None:
        self.directory = Path(directory)
        self.n = n
        self.wait_seconds = wait_seconds
        ensure_private_dir(self.directory)

    def acquire(self) -> int:
        """A held slot's file descriptor; waits (real time: the holders are real) for a free one."""
        started = time.monotonic()
        while True:
            for index in range(self.n):
                fd = os.open(self.directory / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            if time.monotonic() - started >= self.wait_seconds:
                raise VismaConcurrencyError(
                    f"Visma: the plan allows {self.n} concurrent call(s) and every one stayed busy "
                    f"for {self.wait_seconds:.0f} s (another run, sensor or sync is downloading; "
                    f"slots in {self.directory})"
                )
            time.sleep(0.05)

    @staticmethod
    def release(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class _ReleasingStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, release: Any) -> None:
        self._stream, self._release = stream, release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._release()


class UsageTransport(httpx.BaseTransport):
    """Admits every request to `api_url` through the ledger and a concurrency slot; token
    requests (another host or path) pass straight through (the auth flow budgets those)."""

    def __init__(
        self,
        transport: httpx.BaseTransport,
        api_url: str,
        ledger: UsageLedger | None,
        slots: ConcurrencySlots | None,
    ) -> None:
        self._transport = transport
        self._api = httpx.URL(api_url.rstrip("/") + "/")
        self.ledger = ledger
        self.slots = slots

    def _is_api_call(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (
            self._api.scheme, self._api.host, self._api.port
        ) and url.path.startswith(self._api.path)  # fmt: skip

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self._is_api_call(request.url):
            return self._transport.handle_request(request)
        if self.slots is None:
            if self.ledger is not None:
                self.ledger.spend_call()
            return self._transport.handle_request(request)
        fd = self.slots.acquire()  # first the slot, so a call that waits too long is not counted
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                ConcurrencySlots.release(fd)

        try:
            if self.ledger is not None:
                self.ledger.spend_call()
            response = self._transport.handle_request(request)
        except BaseException:
            release()
            raise
        if response.is_closed:  # the body is in memory already (a transport that reads it)
            release()
            return response
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _ReleasingStream(response.stream, release)
        return response

    def close(self) -> None:
        self._transport.close()
