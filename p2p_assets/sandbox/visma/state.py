"""The sandbox's persisted state: one SQLite file in the state dir, shared by every process
serving that dir (WAL mode, short IMMEDIATE transactions, so quotas, spike arrest, downloads and
fault budgets are consumed exactly once even under concurrent requests).

Holds the signing key, the faults, the sandbox clock's offset and the moment the state was
seeded, counters, the delivered and uploaded files' metadata, each client's last call and calls
in flight, and open resumable uploads.
"""

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from p2p_assets.sandbox.state import SqliteState
from p2p_assets.sandbox.visma.clock import SharedClock
from p2p_assets.sandbox.visma.config import FailRule, VismaFaults
from p2p_assets.sandbox.visma.limits import Gate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL,
    size INTEGER NOT NULL, business_type INTEGER NOT NULL, type_index INTEGER NOT NULL,
    tenant_id TEXT NOT NULL, publisher_id TEXT NOT NULL, upload_date TEXT NOT NULL,
    downloaded INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
    deleted_date TEXT, path TEXT NOT NULL, num_chunks INTEGER NOT NULL DEFAULT 1,
    delivered_at REAL
);
CREATE TABLE IF NOT EXISTS clients (
    client TEXT PRIMARY KEY, last_call REAL NOT NULL DEFAULT 0, in_flight INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS uploads (
    token TEXT PRIMARY KEY, name TEXT NOT NULL, business_type INTEGER NOT NULL,
    created REAL NOT NULL, chunks TEXT NOT NULL
)
"""
FILE_COLUMNS = (
    "id, seq, role, name, size, business_type, type_index, tenant_id, publisher_id, upload_date,"
    " downloaded, deleted, deleted_date, path, num_chunks, delivered_at"
)
_DEFAULTS = {"downloaded": 0, "deleted": 0, "num_chunks": 1}
_THROTTLES = {"spike": "throttled_spike", "concurrency": "throttled_concurrency"}


class VismaState(SqliteState[VismaFaults, FailRule]):
    """Accessors over `state_dir/sandbox.sqlite3`; every call is its own short transaction."""

    faults_type = VismaFaults
    fail_rule_type = FailRule

    def __init__(self, state_dir: Path):
        super().__init__(state_dir)
        # A fresh state's clock runs at real time (clock.py); the seeding moment starts the
        # retention of the seeded files (see `VismaSandboxConfig.retention_days`).
        self._create(_SCHEMA, clock_offset="0", seeded_at=repr(time.time()))
        with self._transaction() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(files)")}
            if "delivered_at" not in columns:  # a state dir made before retention existed
                db.execute("ALTER TABLE files ADD COLUMN delivered_at REAL")
            self.seeded_at = float(self._meta(db, "seeded_at"))
        self.clock = SharedClock(self.path)

    def take_auth_quota(self, month: str, quota: int) -> bool:
        """Count one authentication call; False (and not counted as issued) over the quota."""
        with self._transaction() as db:
            self._bump(db, "auth_calls")
            if self._count(db, f"tokens:{month}") >= quota:
                self._bump(db, "auth_quota_exceeded")
                return False
            self._bump(db, f"tokens:{month}")
            self._bump(db, "tokens_issued")
            return True

    # -- usage limits, spike arrest and concurrency ----------------------------------------------
    def _count(self, db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT n FROM counters WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def _refuse(self, db: sqlite3.Connection, reason: str, *also: str) -> None:
        for name in ("throttled", _THROTTLES.get(reason, f"refused_{reason}"), *also):
            self._bump(db, name)

    def refuse(self, reason: str, *also: str) -> None:
        """Count a 429 for `reason` (and the counters `also` names)."""
        with self._transaction() as db:
            self._refuse(db, reason, *also)

    def _quota_refusal(self, db: sqlite3.Connection, gate: Gate) -> tuple[str | None, list[str]]:
        """(the refusal, or None; the counters an admitted call increments)."""
        counts = [self._count(db, quota.counter) for quota in gate.quotas]
        counters = [quota.counter for quota in gate.quotas]
        if gate.outside_window:
            return "outside_window", counters
        days = gate.window_days if counts[0] == 0 else None  # this call opens its window
        if days is not None:
            if days.cap is not None and self._count(db, days.counter) >= days.cap:
                return days.refusal, counters
            counters.append(days.counter)
        for quota, count in zip(gate.quotas, counts, strict=True):
            if quota.cap is not None and count >= quota.cap:
                return quota.refusal, counters
        return None, counters

    def admit(
        self, client: str, now: float, interval: float, concurrency: int, gate: Gate
    ) -> str | None:
        """Let one API call of `client` in: None when admitted (and counted toward every cap),
        else why not: a quota refusal ("outside_window", "window_days", "window_quota",
        "day_quota"), "spike" or "concurrency"."""
        with self._transaction() as db:
            refused, counters = self._quota_refusal(db, gate)
            db.execute("INSERT OR IGNORE INTO clients (client) VALUES (?)", (client,))
            last, in_flight = db.execute(
                "SELECT last_call, in_flight FROM clients WHERE client = ?", (client,)
            ).fetchone()
            # A clock moved back is no spike: the arrest measures the time since the last call.
            if refused is None and 0 <= now - last < interval:
                refused = "spike"
            elif refused is None and in_flight >= concurrency:
                refused = "concurrency"
            if refused:
                self._refuse(db, refused)
                return refused
            for name in counters:
                self._bump(db, name)
            db.execute(
                "UPDATE clients SET last_call = ?, in_flight = in_flight + 1 WHERE client = ?",
                (now, client),
            )
            return None

    def release(self, client: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE clients SET in_flight = MAX(0, in_flight - 1) WHERE client = ?", (client,)
            )

    # -- files ----------------------------------------------------------------------------------
    def add_file(self, row: dict[str, Any]) -> bool:
        """Insert a file's metadata (ignored when the id exists); True when inserted."""
        names = [c.strip() for c in FILE_COLUMNS.split(",")]
        with self._transaction() as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO files ({FILE_COLUMNS}) VALUES"
                f" ({', '.join('?' for _ in names)})",
                [row.get(n, _DEFAULTS.get(n)) for n in names],
            )
            return cursor.rowcount == 1

    def next_seq(self) -> int:
        with self._transaction() as db:
            return db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM files").fetchone()[0]

    def type_count(self, business_type: int) -> int:
        with self._transaction() as db:
            return db.execute(
                "SELECT COUNT(*) FROM files WHERE role = 'subscriber' AND business_type = ?"
                " AND type_index >= 0",
                (business_type,),
            ).fetchone()[0]

    def files(self, role: str) -> list[dict[str, Any]]:
        with self._transaction() as db:
            cursor = db.execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE role = ? ORDER BY seq", (role,)
            )
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def file(self, file_id: str, role: str) -> dict[str, Any] | None:
        return next((f for f in self.files(role) if f["id"] == file_id), None)

    def mark_downloaded(self, file_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE files SET downloaded = 1 WHERE id = ?", (file_id,))
            self._bump(db, "downloads")

    def delete_file(self, file_id: str, when: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE files SET deleted = 1, deleted_date = ? WHERE id = ? AND role ="
                " 'subscriber' AND deleted = 0",
                (when, file_id),
            )
            return cursor.rowcount == 1

    # -- resumable uploads ----------------------------------------------------------------------
    def open_upload(self, token: str, name: str, business_type: int, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, '{}')", (token, name, business_type, now)
            )

    def upload(self, token: str) -> dict[str, Any] | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT name, business_type, created, chunks FROM uploads WHERE token = ?",
                (token,),
            ).fetchone()
        if row is None:
            return None
        chunks = {int(k): v for k, v in json.loads(row[3]).items()}
        return {"name": row[0], "business_type": row[1], "created": row[2], "chunks": chunks}

    def add_chunk(self, token: str, position: int, size: int) -> None:
        with self._transaction() as db:
            chunks = json.loads(
                db.execute("SELECT chunks FROM uploads WHERE token = ?", (token,)).fetchone()[0]
            )
            chunks[str(position)] = size
            db.execute("UPDATE uploads SET chunks = ? WHERE token = ?", (json.dumps(chunks), token))

    def close_upload(self, token: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM uploads WHERE token = ?", (token,))

    # -- faults ---------------------------------------------------------------------------------
    def take_drop(self) -> int | None:
        """Consume one of `drop_next_downloads`: -1 for "half the body", N bytes, or None."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            if int(data.get("drop_next_downloads") or 0) <= 0:
                return None
            data["drop_next_downloads"] -= 1
            self._set_meta(db, "faults", json.dumps(data))
            after = data.get("drop_after_bytes")
            return -1 if after is None else int(after)

    def snapshot(self) -> dict[str, Any]:
        """Counters, faults and file states, for GET /_sandbox/state."""
        with self._transaction() as db:
            faults = json.loads(self._meta(db, "faults"))
            counters = dict(db.execute("SELECT name, n FROM counters ORDER BY name").fetchall())
            files = db.execute(
                "SELECT id, role, name, business_type, downloaded, deleted FROM files ORDER BY seq"
            ).fetchall()
        return {
            "counters": counters,
            "faults": faults,
            "files": [
                {
                    "fileId": i,
                    "role": r,
                    "fileName": n,
                    "businessType": b,
                    "downloaded": bool(d),
                    "deleted": bool(x),
                }
                for i, r, n, b, d, x in files
            ],
        }
