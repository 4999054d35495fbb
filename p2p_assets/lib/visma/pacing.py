"""Keeping to Visma's spike arrest: at most one call per 0.6 s, shared by threads and processes.

Spike arrest smooths "100 calls a minute" into one call every 0.6 s; a second call inside that
interval is refused with 429 (no `Retry-After`). The vendor's own scripts pace their calls, and on
a 429 sleep 60 s and add 100 ms to their pacing; they retry 5xx and 499 up to 10 times and fail
on any other 4xx. This module does the same.

Why a transport and not code in the client: every request the `httpx.Client` sends must be paced,
including the token requests the auth flow yields and each retry the `RetryingTransport` makes.
Only a transport sees all of them, once per actual send. The stack is therefore

    httpx.Client (auth) -> RetryingTransport (5xx/499, network errors) -> PacingTransport
    (wait for a slot; 429: sleep, slow down, resend) -> network

so a retried 5xx also waits for its slot, and a 429 never reaches the retry layer's backoff.
"""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.http import network_transport, parse_retry_after, redact_url
from p2p_assets.lib.locks import ensure_private_dir, file_lock

log = logging.getLogger(__name__)

# The spike arrest allows one call per 0.6 s, measured where calls *arrive*. We can only space
# when they *leave*, and a busy machine delays one call more than the next, so spacing departures
# by 0.65 s still drew an occasional 429 in CI. The pacer therefore counts the interval from the
# later of a call's departure and its answer (`Pacer.done`): the vendor stamped the call before it
# answered, so a sequential caller can never arrive early. 20 ms covers clock granularity; with
# loopback latency that is ~95 calls a minute.
VENDOR_INTERVAL = 0.6
DEFAULT_INTERVAL = VENDOR_INTERVAL + 0.02
THROTTLE_SLEEP = 60.0
THROTTLE_STEP = 0.1


class Pacer:
    """Hands out call slots at least `interval` seconds apart.

    With `state_path` (e.g. `{P2P_DATA_DIR}/visma/pace`) the time of the last call is kept in that
    small file under an exclusive `fcntl` lock, so separate processes using the same app share one
    pace; without it the pace is shared by the threads of this process only. The clock is the
    wall clock because processes do not share a monotonic one.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        state_path: Path | str | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if interval < 0:
            raise ValueError("Pacer interval must not be negative")
        self.interval = interval
        self.state_path = Path(state_path) if state_path is not None else None
        self._clock = clock or (lambda: clocks.current().time())
        self._sleep = sleep or (lambda seconds: clocks.current().sleep(seconds))
        self._lock = threading.Lock()
        self._last: float | None = None
        if self.state_path is not None:
            ensure_private_dir(self.state_path.parent)

    def slow_down(self, step: float = THROTTLE_STEP) -> None:
        """Widen the interval after a 429, as the vendor's scripts do."""
        with self._lock:
            self.interval += step
        log.warning("Visma pacing interval is now %.2f s", self.interval)

    def wait(self) -> float:
        """Block until the next slot is ours; returns the time waited."""
        with self._lock:
            if self.state_path is None:
                return self._take_slot(self._last)
            with file_lock(self.state_path.with_name(self.state_path.name + ".lock")):
                return self._take_slot(self._read_last())

    def done(self) -> None:
        """Record that a call's answer has arrived: the next slot counts from now."""
        with self._lock:
            if self.state_path is None:
                self._last = max(self._last or 0.0, self._clock())
                return
            with file_lock(self.state_path.with_name(self.state_path.name + ".lock")):
                self._last = max(self._read_last() or 0.0, self._clock())
                self.state_path.write_text(repr(self._last))

    def _take_slot(self, last: float | None) -> float:
        waited = 0.0
        if last is not None:
            due = last + self.interval
            now = self._clock()
            # A last-call time in the future (clock stepped back) is capped at one interval.
            waited = min(max(0.0, due - now), self.interval)
            if waited > 0:
                self._sleep(waited)
        self._last = self._clock()
        if self.state_path is not None:
            self.state_path.write_text(repr(self._last))
        return waited

    def _read_last(self) -> float | None:
        assert self.state_path is not None
        try:
            return float(self.state_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


class PacingTransport(httpx.BaseTransport):
    """Sends every request in a pacer slot; on 429 sleeps `throttle_sleep` (or what a
    `Retry-After` header asks, up to that: the spike arrest sends none, a gateway in front of it
    may), slows the pacer down by `throttle_step` and sends again, at most `max_throttled` times.
    A 429 it gives up on is returned with `extensions["throttled"]` set, for the client to raise
    its own error."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        pacer: Pacer | None = None,
        *,
        throttle_sleep: float = THROTTLE_SLEEP,
        throttle_step: float = THROTTLE_STEP,
        max_throttled: int = 10,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._transport = transport if transport is not None else network_transport()
        self.pacer = pacer if pacer is not None else Pacer()
        self.throttle_sleep = throttle_sleep
        self.throttle_step = throttle_step
        self.max_throttled = max_throttled
        self._sleep = sleep or (lambda seconds: clocks.current().sleep(seconds))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        throttled = 0
        while True:
            self.pacer.wait()
            try:
                response = self._transport.handle_request(request)
            finally:
                self.pacer.done()
            if response.status_code != 429:
                return response
            if _is_quota_violation(response):
                # A plan quota (window, daily calls, tokens): waiting a minute will not help.
                response.extensions = {**response.extensions, "throttled": throttled + 1}
                return response
            throttled += 1
            if throttled > self.max_throttled:
                response.extensions = {**response.extensions, "throttled": throttled}
                return response
            _discard(response)
            asked = parse_retry_after(response.headers.get("Retry-After"))
            wait = self.throttle_sleep if asked is None else min(asked, self.throttle_sleep)
            log.warning(
                "Visma spike arrest: %s %s answered 429 (%d of %d); sleeping %.1f s",
                request.method,
                redact_url(request.url),
                throttled,
                self.max_throttled,
                wait,
            )
            self._sleep(wait)
            self.pacer.slow_down(self.throttle_step)

    def close(self) -> None:
        self._transport.close()


def _is_quota_violation(response: httpx.Response) -> bool:
    """Apigee names the policy a 429 comes from; only the spike arrest passes with time."""
    response.read()
    return b"QuotaViolation" in response.content[:2000]


def _discard(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()
