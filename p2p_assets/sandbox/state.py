"""What every vendor sandbox keeps in its state dir: a small SQLite database that any number of
processes serving that dir share (WAL mode, short IMMEDIATE transactions), with a `meta` table
holding at least the token signing key.

Each thread keeps its own connection open (the server runs a thread per HTTP connection): opening
one costs milliseconds, a transaction on an open one microseconds, and a simulated request takes
several transactions. The threads of one process take turns through a lock of their own rather than
through SQLite's busy handler, which sleeps up to 100 ms at a time when it finds the file locked;
other processes still meet SQLite's lock."""

import contextlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar


class _Faults(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class _FailRule(Protocol):
    count: int

    def matches(self, path: str) -> bool: ...


_locks: dict[Path, threading.RLock] = {}
_locks_lock = threading.Lock()


def _lock_for(path: Path) -> threading.RLock:
    """One lock per state file in this process, whichever `SqliteState` objects open it."""
    with _locks_lock:
        return _locks.setdefault(path.resolve(), threading.RLock())


FaultsT = TypeVar("FaultsT", bound=_Faults)
RuleT = TypeVar("RuleT", bound=_FailRule)


class SqliteState(Generic[FaultsT, RuleT]):
    """Base of the vendor sandboxes' state; subclasses create their tables in `__init__` (with a
    `faults` row in `meta`) and name their faults and fail-rule classes."""

    faults_type: Any
    fail_rule_type: Any

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "sandbox.sqlite3"
        self._local = threading.local()  # this thread's open connection (closed when it ends)
        self._lock = _lock_for(self.path)

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # Durable across a crashed process (what the sandboxes simulate), not a power cut:
            # no fsync per commit, which would make every simulated request cost milliseconds.
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _create(self, schema: str, **meta: str) -> None:
        """Create `schema`'s tables (one statement at a time: executescript() would commit our
        IMMEDIATE transaction) and the `meta` rows a new state starts with: a signing key, no
        faults, and `meta`."""
        with self._transaction() as db:
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            rows = {"signing_key": secrets.token_hex(32), "faults": "{}", **meta}
            db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", rows.items())

    # -- counters (for states whose schema has `counters (name TEXT PRIMARY KEY, n INTEGER)`) ----
    def _bump(self, db: sqlite3.Connection, name: str, by: int = 1) -> int:
        db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = n + ?",
            (name, by, by),
        )
        return db.execute("SELECT n FROM counters WHERE name = ?", (name,)).fetchone()[0]

    def bump(self, name: str, by: int = 1) -> int:
        with self._transaction() as db:
            return self._bump(db, name, by)

    def counters(self) -> dict[str, int]:
        with self._transaction() as db:
            return dict(db.execute("SELECT name, n FROM counters ORDER BY name").fetchall())

    def _meta(self, db: sqlite3.Connection, key: str) -> str:
        return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def signing_key(self) -> bytes:
        with self._transaction() as db:
            return bytes.fromhex(self._meta(db, "signing_key"))

    # -- faults, persisted so every process serving the dir injects the same ones ----------------
    def faults(self) -> FaultsT:
        with self._transaction() as db:
            return self.faults_type.from_dict(json.loads(self._meta(db, "faults")))

    def set_faults(self, faults: FaultsT) -> None:
        with self._transaction() as db:
            self._set_meta(db, "faults", json.dumps(faults.to_dict()))

    def take_failure(self, path: str) -> RuleT | None:
        """Consume one request of the first `fail_next` rule matching `path`, if any."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            rules = data.get("fail_next") or []
            for rule in rules:
                parsed = self.fail_rule_type(**rule)
                if parsed.count > 0 and parsed.matches(path):
                    rule["count"] = parsed.count - 1
                    data["fail_next"] = [r for r in rules if r["count"] > 0]
                    self._set_meta(db, "faults", json.dumps(data))
                    return parsed
            return None
