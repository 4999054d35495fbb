"""The time the product reads and the way it waits, replaceable as one object.

Visma's plans are about calendar time (a 2-hour window a day, calls per day, tokens per month), so
proving that a month of sensor ticks stays inside them needs a month to pass in seconds. Every
time source on the Visma path (token lifetimes, the spike-arrest pacer, the usage ledger, the
sensor's poll schedule) reads `current()`; a test installs a clock that a sleep moves forward
instead of waiting. Production never replaces it.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (comparable across processes)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM = SystemClock()
_current: Clock = SYSTEM


def current() -> Clock:
    return _current


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the product's clock for the duration (tests only)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
