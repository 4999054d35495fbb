"""Telling which signal stopped a sync, wherever it waits.

Outside Dagster a signal may simply raise (`signals_raise`). Inside a run Dagster's handler only
sets a flag, for SIGTERM and SIGINT alike, so `SignalRecorder` learns which one came from the
wakeup fd, where Python writes each signal's number before it calls the handler.
"""

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._utils.interrupts import check_captured_interrupt

# The exit codes a shell gives a process ended by the signal.
SIGNAL_EXITS = {signal.SIGTERM: 143, signal.SIGINT: 130}


class Stopped(BaseException):
    """A BaseException, so that no `except Exception` on the way swallows the stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise `Stopped` here (the main thread's wait loop)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in SIGNAL_EXITS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class SignalRecorder:
    """The last signal that arrived, whoever handles it: Python writes each signal's number to
    the wakeup fd before calling the handler (here Dagster's, which only sets a flag)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous: int | None = None
        try:
            self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: only Dagster's flag tells
            pass

    def poll(self) -> int | None:
        try:
            data = os.read(self._read, 64)
        except BlockingIOError:
            data = b""
        for signum in data:  # other signals with a Python handler are none of our business
            if signum in SIGNAL_EXITS:
                self.received = signum
        if self.received is None and check_captured_interrupt():
            self.received = signal.SIGINT
        return self.received

    def close(self) -> None:
        self.poll()
        if self._previous is not None:
            signal.set_wakeup_fd(self._previous)
        os.close(self._read)
        os.close(self._write)
