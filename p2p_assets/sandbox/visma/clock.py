"""The sandbox clock: real time plus an offset kept in the state's `meta` table (`clock_offset`),
so every process serving a state dir sees the same time, and tests move it through windows,
months and retention periods instead of waiting.

The clock keeps one SQLite connection of its own open, used under a lock: tests move the clock
tens of thousands of times, so it does not open a connection per transaction; and while one
connection stays open SQLite does not checkpoint and fsync the WAL each time the last connection
closes, which makes every other short transaction on the state cheaper too.
"""

import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

_READ = "SELECT value FROM meta WHERE key = 'clock_offset'"
_WRITE = "INSERT OR REPLACE INTO meta VALUES ('clock_offset', ?)"


class SharedClock:
    """`time.time()` plus the offset in the `meta` table of the SQLite database at `path`."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._connection()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # a connection may not cross a fork
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_READ).fetchone()  # opens the WAL, which then stays open
            self._db, self._pid = db, os.getpid()
            weakref.finalize(self, db.close)
        return self._db

    def read(self) -> tuple[float, float]:
        """(now in epoch seconds, offset) from one read of the offset."""
        with self._lock:
            offset = float(self._connection().execute(_READ).fetchone()[0])
        return time.time() + offset, offset

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._connection().execute(_WRITE, (repr(float(seconds)),))

    def advance(self, seconds: float) -> float:
        """Move the clock on by `seconds` in one transaction (concurrent moves add up); the new
        offset."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                offset = float(db.execute(_READ).fetchone()[0]) + seconds
                db.execute(_WRITE, (repr(offset),))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return offset
