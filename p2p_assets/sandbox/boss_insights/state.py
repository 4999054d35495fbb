"""The Boss Insights sandbox's state: the CDM (each record under the id the CDM gave it), every
accepted write, the pushes and every webhook attempt, in SQLite in the state dir, shared by every
process serving it. A state dir of the first schema (the CDM keyed by `external_id`) is brought
to this one on opening, each record keeping its `external_id` as its id."""

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2p_assets.sandbox.boss_insights.config import BossInsightsFaults, FailRule
from p2p_assets.sandbox.state import SqliteState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    object TEXT NOT NULL, id TEXT NOT NULL, external_id TEXT NOT NULL, body TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (object, id)
);
CREATE INDEX IF NOT EXISTS records_by_external_id ON records (object, external_id);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT NOT NULL, external_id TEXT NOT NULL,
    tracking_id TEXT, sync_id TEXT, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    sync_id TEXT PRIMARY KEY, object TEXT NOT NULL, external_id TEXT NOT NULL, tracking_id TEXT,
    sources TEXT, request_id TEXT NOT NULL, outcome TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, due REAL NOT NULL, claimed_until REAL, claimed_by INTEGER
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL
)
"""
# Columns added since the first schema: (table, column, declaration).
_ADDED = (
    ("writes", "method", "TEXT NOT NULL DEFAULT 'POST'"),
    ("writes", "record_id", "TEXT"),
    ("pushes", "record_id", "TEXT"),
)
CLAIM_SECONDS = 60.0
PUSH_KEYS = ("sync_id", "object", "external_id", "record_id", "tracking_id", "sources",
             "request_id", "outcome", "attempts")  # fmt: skip


class BossInsightsState(SqliteState[BossInsightsFaults, FailRule]):
    faults_type = BossInsightsFaults
    fail_rule_type = FailRule

    def __init__(self, state_dir: Path):
        super().__init__(state_dir)
        self._create(_SCHEMA)
        with self._transaction() as db:
            for table, column, declaration in _ADDED:
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'cdm'").fetchone():
                db.execute(
                    "INSERT OR IGNORE INTO records SELECT object, external_id, external_id, body, "
                    "updated_at, updated_at FROM cdm"
                )
                db.execute("DROP TABLE cdm")

    def take(self, key: str) -> Any:
        """Consume one of the fault `key` (a count, or the first rule of a list), if any is left."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            value = data.get(key)
            if isinstance(value, list):
                if not value:
                    return None
                rule = dict(value[0])
                value[0]["count"] = int(value[0].get("count", 1)) - 1
                data[key] = [r for r in value if r["count"] > 0]
                self._set_meta(db, "faults", json.dumps(data))
                return rule
            if not value or int(value) <= 0:
                return None
            data[key] = int(value) - 1
            self._set_meta(db, "faults", json.dumps(data))
            return True

    def exists(self, obj: str, external_id: str) -> bool:
        with self._transaction() as db:
            return db.execute(
                "SELECT 1 FROM records WHERE object = ? AND external_id = ?", (obj, external_id)
            ).fetchone() is not None  # fmt: skip

    def has_id(self, obj: str, record_id: str) -> bool:
        with self._transaction() as db:
            return db.execute(
                "SELECT 1 FROM records WHERE object = ? AND id = ?", (obj, record_id)
            ).fetchone() is not None  # fmt: skip

    def write(
        self, obj: str, record: dict, *, tracking_id: str | None, push: dict | None,
        method: str = "POST", record_id: str | None = None, upsert: bool = True,
    ) -> str:  # fmt: skip
        """The synchronous CDM write, the write log and (with push) the queued push, at once;
        returns the record's CDM id. `record_id` updates that record; otherwise `upsert` updates
        the record with the same `external_id`, if any, and a new record is created."""
        now = datetime.now(UTC).isoformat()
        external_id = str(record["external_id"])
        with self._transaction() as db:
            if record_id is None and upsert:
                row = db.execute(
                    "SELECT id FROM records WHERE object = ? AND external_id = ? ORDER BY "
                    "created_at LIMIT 1",
                    (obj, external_id),
                ).fetchone()
                record_id = row[0] if row else None
            if record_id is None:
                record_id = str(self._bump(db, f"ids:{obj}") + 1000)
                db.execute(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                    (obj, record_id, external_id, json.dumps(record), now, now),
                )
            else:
                db.execute(
                    "UPDATE records SET external_id = ?, body = ?, updated_at = ? "
                    "WHERE object = ? AND id = ?",
                    (external_id, json.dumps(record), now, obj, record_id),
                )
            db.execute(
                "INSERT INTO writes (object, external_id, tracking_id, sync_id, at, method, "
                "record_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (obj, external_id, tracking_id, push and push["sync_id"], now, method, record_id),
            )
            if push:
                db.execute(
                    "INSERT INTO pushes (sync_id, object, external_id, record_id, tracking_id, "
                    "sources, request_id, outcome, state, due) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (push["sync_id"], obj, external_id, record_id, tracking_id, push["sources"],
                     str(uuid.uuid4()), json.dumps(push["outcome"]), push["due"]),
                )  # fmt: skip
        return record_id

    def claim_push(self, sync_id: str) -> dict | None:
        """Claim a pending push for delivery by this process, unless another live one has it."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(PUSH_KEYS)}, claimed_until, claimed_by FROM pushes "
                "WHERE state = 'pending' AND sync_id = ?",
                (sync_id,),
            ).fetchone()
            if row is None or not claimable(row[-2], row[-1], now):
                return None
            db.execute(
                "UPDATE pushes SET claimed_until = ?, claimed_by = ? WHERE sync_id = ?",
                (now + CLAIM_SECONDS, os.getpid(), sync_id),
            )
        return dict(zip(PUSH_KEYS, row[: len(PUSH_KEYS)], strict=True))

    def attempted(self, sync_id: str, request_id: str, status: str) -> int:
        with self._transaction() as db:
            attempt = db.execute(
                "UPDATE pushes SET attempts = attempts + 1 WHERE sync_id = ? RETURNING attempts",
                (sync_id,),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO webhook_attempts (request_id, attempt, status) VALUES (?, ?, ?)",
                (request_id, attempt, status),
            )
        return attempt

    def finished(self, sync_id: str, final: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE pushes SET state = ?, claimed_until = NULL WHERE sync_id = ?",
                (final, sync_id),
            )

    def unclaimed_pending(self) -> list[str]:
        """Pending pushes nobody is delivering: unclaimed, expired, or claimed by a dead process."""
        now = time.time()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT sync_id, claimed_until, claimed_by FROM pushes WHERE state = 'pending' "
                "ORDER BY due"
            ).fetchall()
        return [r[0] for r in rows if claimable(r[1], r[2], now)]

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        with self._transaction() as db:
            return db.execute(sql, params).fetchall()


def claimable(claimed_until: float | None, claimed_by: int | None, now: float) -> bool:
    if claimed_until is None or claimed_until < now:
        return True
    try:
        os.kill(int(claimed_by or 0), 0)  # is the claiming process (on this machine) alive?
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def outcomes(stored: str, destinations: tuple[str, ...]) -> dict[str, bool]:
    """A push's outcome per destination (True: it succeeded there); the first schema stored one
    word for the whole push."""
    try:
        value = json.loads(stored)
    except ValueError:
        value = stored
    if isinstance(value, dict):
        return {str(k): v == "success" for k, v in value.items()}
    return {destinations[0]: value == "success"}
