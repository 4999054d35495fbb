"""What every vendor sandbox keeps in its state dir: a small SQLite database that any number of
processes serving that dir share (WAL mode, short IMMEDIATE transactions), with a `meta` table
holding at least the token signing key."""

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


class SqliteState:
    """Base of the vendor sandboxes' state; subclasses create their tables in `__init__`."""

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "sandbox.sqlite3"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _meta(self, db: sqlite3.Connection, key: str) -> str:
        return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def signing_key(self) -> bytes:
        with self._transaction() as db:
            return bytes.fromhex(self._meta(db, "signing_key"))
