"""Clocks a test installs as the product's (`p2p_assets.lib.clock.using`)."""

import time


class MovableClock:
    """Stands still until moved; `sleep` moves it instead of waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class OffsetClock:
    """Real time, shifted by `offset` seconds (move it with `advance`); sleeps really sleep."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
