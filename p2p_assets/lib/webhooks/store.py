"""The webhook event store: one SQLite file shared by the receiver (writing) and the fold (reading).

- Each event is stored once by its key (`payload.event_key`, the hash of the whole body): a
  retried delivery is acknowledged and ignored; two events sharing a `requestId` are both kept.
- `add` returns only once the event is committed (`synchronous=FULL`), so a crash can never
  acknowledge an event we do not have. Concurrent `add`s from the receiver's threads are
  committed together (a group commit: one fsync for every event waiting), so a burst of
  deliveries costs a few fsyncs, not one each.
- WAL mode, so the fold reads while the receiver writes; a busy timeout for the moments another
  process holds the write lock.
- A store of the first schema (one event per `requestId`) is migrated in place on opening: every
  row keeps its `seq` (the fold's cursor) and gets its key from its body.
"""

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2p_assets.lib.webhooks.payload import event_key

log = logging.getLogger(__name__)
BUSY_TIMEOUT_SECONDS = 30
# event_key, request_id, event, received_at, body, headers
_Row = tuple[str, str, str, str, str, str]
COLUMNS = """
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}'
"""


@dataclass(frozen=True)
class StoredEvent:
    """One stored event. `headers` are the delivery's request headers (lower-case names, no
    credentials or cookies) of the first delivery stored."""

    seq: int
    key: str
    request_id: str
    event: str
    received_at: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Waiting:
    row: _Row
    done: bool = False
    stored: bool = False
    error: BaseException | None = None


@dataclass
class _GroupCommit:
    """Commits the rows of every thread waiting in `add` in one transaction."""

    write: Callable[[list[_Row]], list[bool]]
    condition: threading.Condition = field(default_factory=threading.Condition)
    waiting: list[_Waiting] = field(default_factory=list)
    writing: bool = False

    def submit(self, row: _Row) -> bool:
        mine = _Waiting(row)
        with self.condition:
            self.waiting.append(mine)
            while not mine.done:
                if self.writing:  # another thread commits; ours goes in the next batch
                    self.condition.wait()
                    continue
                batch, self.waiting, self.writing = self.waiting, [], True
                self.condition.release()
                try:
                    stored, error = self.write([w.row for w in batch]), None
                except BaseException as exc:  # every waiter of the batch learns it failed
                    stored, error = [False] * len(batch), exc
                finally:
                    self.condition.acquire()
                    self.writing = False
                for waiter, was_stored in zip(batch, stored, strict=True):
                    waiter.done, waiter.stored, waiter.error = True, was_stored, error
                self.condition.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.stored


class EventStore:
    """Stored webhook events in one SQLite file, shared by the receiver and the sensor."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.busy_timeout = busy_timeout
        self._writer: sqlite3.Connection | None = None
        self._commits = _GroupCommit(self._write)
        db = self._connect()
        try:
            _migrate(db)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def add(
        self,
        request_id: str,
        event: str,
        body: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Store the event, durably; False when the same event was stored before."""
        row = (
            event_key(body),
            request_id,
            event,
            datetime.now(UTC).isoformat(),
            json.dumps(body, ensure_ascii=False),  # as delivered, key order kept
            json.dumps(dict(headers or {}), ensure_ascii=False),
        )
        return self._commits.submit(row)

    def _write(self, rows: Sequence[_Row]) -> list[bool]:
        if self._writer is None:  # only ever used by the one thread committing (see submit)
            self._writer = self._connect()
        db = self._writer
        try:
            db.execute("BEGIN IMMEDIATE")
            # Not INSERT OR IGNORE: an ignored insert would still use up a seq number.
            stored = [
                db.execute(
                    "INSERT INTO events "
                    "(event_key, request_id, event, received_at, body, headers) "
                    "SELECT ?, ?, ?, ?, ?, ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_key = ?)",
                    (*row, row[0]),
                ).rowcount
                == 1
                for row in rows
            ]
            db.execute("COMMIT")
        except BaseException:
            self._writer = None  # a fresh connection for the next batch
            db.close()
            raise
        return stored

    def close(self) -> None:
        with self._commits.condition:
            while self._commits.writing:
                self._commits.condition.wait()
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 when there is none)."""
        db = self._connect()
        try:
            return int(db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        finally:
            db.close()

    def events_after(self, seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Up to `limit` events after `seq`, in arrival order, with their keys and headers."""
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT seq, event_key, request_id, event, received_at, body, headers "
                "FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        finally:
            db.close()
        return [
            StoredEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]))
            for r in rows
        ]

    def since(self, seq: int, limit: int = 10_000) -> list[tuple[int, str, str, dict]]:
        """Up to `limit` events after `seq`, in arrival order: `(seq, request_id, received_at,
        body)` (see `events_after` for the keys and headers)."""
        return [(e.seq, e.request_id, e.received_at, e.body) for e in self.events_after(seq, limit)]


def _migrate(db: sqlite3.Connection) -> None:
    """Create the table, or bring a store of the first schema to this one (in one transaction,
    so a receiver and a sensor opening the store together migrate it once)."""
    if _columns(db) >= {"event_key", "headers"}:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = _columns(db)
        if not columns:
            db.execute(f"CREATE TABLE events ({COLUMNS})")
        elif not columns >= {"event_key", "headers"}:
            _rebuild(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _rebuild(db: sqlite3.Connection) -> None:
    # The first schema made request_id UNIQUE; SQLite cannot drop a constraint, so the table is
    # copied into the new shape, seq for seq.
    rows = db.execute("SELECT seq, request_id, event, received_at, body FROM events").fetchall()
    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    db.execute(f"CREATE TABLE events_migrated ({COLUMNS})")
    db.executemany(
        "INSERT OR IGNORE INTO events_migrated "
        "(seq, event_key, request_id, event, received_at, body) VALUES (?, ?, ?, ?, ?, ?)",
        [(seq, event_key(json.loads(body)), rid, ev, at, body) for seq, rid, ev, at, body in rows],
    )
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_migrated RENAME TO events")
    # Never hand out a seq the fold may already have seen.
    highest = max([sequence[0] if sequence else 0, *(row[0] for row in rows)])
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (highest,))
    log.info("webhook store: %d event(s) migrated to one key per event", len(rows))


def _columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(events)")}
