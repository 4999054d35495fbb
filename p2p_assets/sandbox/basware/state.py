"""The sandbox's persisted state: one SQLite file in the state dir, shared by every process
serving that dir (WAL mode, short IMMEDIATE transactions, so counters such as download counts and
fault budgets are consumed exactly once even under concurrent requests).

Holds the creation time, the token signing key, manually published deltas, acknowledgements,
download counts and the current faults.
"""

import json
import time
from pathlib import Path

from p2p_assets.sandbox.basware.config import BaswareFaults, FailRule
from p2p_assets.sandbox.state import SqliteState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acknowledgements (extract_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS downloads (
    extract_id TEXT NOT NULL, file_name TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (extract_id, file_name)
);
"""


class SandboxState(SqliteState[BaswareFaults, FailRule]):
    """Accessors over `state_dir/sandbox.sqlite3`; every call is its own short transaction."""

    faults_type = BaswareFaults
    fail_rule_type = FailRule

    def __init__(self, state_dir: Path):
        super().__init__(state_dir)
        self._create(_SCHEMA, created_at=repr(time.time()), manual_deltas="0")

    # -- identity -------------------------------------------------------------------------------
    def created_at(self) -> float:
        with self._transaction() as db:
            return float(self._meta(db, "created_at"))

    # -- publication ----------------------------------------------------------------------------
    def manual_deltas(self) -> int:
        with self._transaction() as db:
            return int(self._meta(db, "manual_deltas"))

    def add_manual_delta(self) -> int:
        with self._transaction() as db:
            count = int(self._meta(db, "manual_deltas")) + 1
            self._set_meta(db, "manual_deltas", str(count))
            return count

    # -- acknowledgements -----------------------------------------------------------------------
    def acknowledge(self, extract_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO acknowledgements VALUES (?, ?)", (extract_id, time.time())
            )

    def acknowledged(self) -> set[str]:
        with self._transaction() as db:
            return {row[0] for row in db.execute("SELECT extract_id FROM acknowledgements")}

    # -- downloads ------------------------------------------------------------------------------
    def download_count(self, extract_id: str, file_name: str) -> int:
        with self._transaction() as db:
            row = db.execute(
                "SELECT n FROM downloads WHERE extract_id = ? AND file_name = ?",
                (extract_id, file_name),
            ).fetchone()
            return row[0] if row else 0

    def count_download(self, extract_id: str, file_name: str, limit: int) -> int | None:
        """Count one download unless the limit is reached; the new count, or None if refused."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT n FROM downloads WHERE extract_id = ? AND file_name = ?",
                (extract_id, file_name),
            ).fetchone()
            count = row[0] if row else 0
            if count >= limit:
                return None
            db.execute(
                "INSERT OR REPLACE INTO downloads VALUES (?, ?, ?)",
                (extract_id, file_name, count + 1),
            )
            return count + 1

    def download_counts(self) -> dict[tuple[str, str], int]:
        with self._transaction() as db:
            rows = db.execute("SELECT extract_id, file_name, n FROM downloads").fetchall()
            return {(extract_id, name): n for extract_id, name, n in rows}

    # -- faults ---------------------------------------------------------------------------------
    def take_drop(self) -> bool:
        """Consume one of `drop_next_downloads`; True when this download must be cut."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            if int(data.get("drop_next_downloads") or 0) <= 0:
                return False
            data["drop_next_downloads"] -= 1
            self._set_meta(db, "faults", json.dumps(data))
            return True

    def snapshot(self) -> dict:
        """Everything, for GET /_sandbox/state."""
        with self._transaction() as db:
            acks = db.execute("SELECT extract_id FROM acknowledgements ORDER BY at").fetchall()
            downloads = db.execute("SELECT extract_id, file_name, n FROM downloads").fetchall()
            return {
                "created_at": float(self._meta(db, "created_at")),
                "manual_deltas": int(self._meta(db, "manual_deltas")),
                "acknowledged": [row[0] for row in acks],
                "downloads": [{"extractId": e, "fileName": f, "count": n} for e, f, n in downloads],
                "faults": json.loads(self._meta(db, "faults")),
            }
