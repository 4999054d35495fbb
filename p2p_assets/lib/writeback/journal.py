"""The send journal: what a write-back run is doing, durable before and after every vendor call,
without holding the DuckDB warehouse open.

DuckDB lets one process open a file for writing and then nobody else, not even a reader; a run
sending thousands of records must not lock the warehouse for minutes, and opening it twice per
record costs ~40 ms. So the run writes each claim ("about to send this record under this tracking
id", committed with `synchronous=FULL` before the call) and each outcome to this small SQLite
journal beside the warehouse, and `apply` copies the journal into `writeback.outbox` set-wise, in
one transaction, at the end of the run, or at the start of the next one when a run crashed. A
claim without an outcome becomes `sending` there, which planning turns into `uncertain`.

Applying is exactly-once: the warehouse remembers the journal's id and the last entry applied
(`writeback.journal_applied`) in the same transaction as the outbox update, and an entry only
touches the outbox row still carrying its tracking id.
"""

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, record_key TEXT NOT NULL,
    tracking_id TEXT NOT NULL, status TEXT NOT NULL, remote_id TEXT, sync_id TEXT, error TEXT,
    field_errors TEXT, entered_at TEXT NOT NULL
)
"""
APPLIED = "writeback.journal_applied"


def journal_path(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.name}.outbox-journal.sqlite3")


class Journal:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('journal_id', ?)", (str(uuid.uuid4()),)
        )
        self.journal_id = self._db.execute(
            "SELECT value FROM meta WHERE key = 'journal_id'"
        ).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, target: str, key: str, tracking_id: str, status: str, **fields: object) -> None:
        self._db.execute(
            "INSERT INTO entries (target, record_key, tracking_id, status, remote_id, sync_id, "
            "error, field_errors, entered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (target, key, tracking_id, status, fields.get("remote_id"), fields.get("sync_id"),
             fields.get("error"), fields.get("field_errors"), datetime.now(UTC).isoformat()),
        )  # fmt: skip

    def claim(self, target: str, key: str, tracking_id: str) -> None:
        """Committed and on disk (fsync) before the call that sends the record."""
        self._db.execute("PRAGMA synchronous=FULL")
        self._add(target, key, tracking_id, "sending")

    def settle(
        self,
        target: str,
        key: str,
        tracking_id: str,
        status: str,
        *,
        remote_id: str | None = None,
        sync_id: str | None = None,
        error: str | None = None,
        field_errors: Mapping[str, str] | None = None,
    ) -> None:
        """How the call for the record ended. Committed without its own fsync: an outcome lost to
        a power cut leaves the claim alone, which means `uncertain`, the safe reading; the next
        claim's fsync makes it durable anyway (SQLite's WAL keeps commits in order)."""
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._add(
            target, key, tracking_id, status, remote_id=remote_id, sync_id=sync_id, error=error,
            field_errors=json.dumps(dict(field_errors)) if field_errors else None,
        )  # fmt: skip

    def apply(self, con: duckdb.DuckDBPyConnection, outbox_table: str) -> int:
        """Copy the entries not applied yet into the outbox (inside the caller's transaction);
        returns how many records changed. Call `forget_applied` after the commit."""
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {APPLIED} (journal_id VARCHAR PRIMARY KEY, seq BIGINT)"
        )
        row = con.execute(
            f"SELECT seq FROM {APPLIED} WHERE journal_id = ?", [self.journal_id]
        ).fetchone()
        applied = int(row[0]) if row else 0
        entries = self._db.execute(
            "SELECT seq, target, record_key, tracking_id, status, remote_id, sync_id, error, "
            "field_errors, entered_at FROM entries WHERE seq > ? ORDER BY seq",
            (applied,),
        ).fetchall()
        if not entries:
            return 0
        names = ("seq", "target", "record_key", "tracking_id", "status", "remote_id", "sync_id",
                 "error", "field_errors", "entered_at")  # fmt: skip
        journal = pa.table(  # noqa: F841 - read by DuckDB's replacement scan below
            {name: [e[i] for e in entries] for i, name in enumerate(names)},
            schema=pa.schema([("seq", pa.int64())] + [(n, pa.string()) for n in names[1:]]),
        )
        # The last entry per record and attempt decides; every claim counts as an attempt.
        changed = con.execute(
            f"""
            UPDATE {outbox_table} AS o SET
                status = CASE WHEN o.status = 'confirmed'
                                   AND s.status IN ('sending', 'sent', 'uncertain')
                              THEN 'confirmed' ELSE s.status END,
                attempts = o.attempts + s.claims,
                remote_id = coalesce(s.remote_id, o.remote_id),
                sync_id = coalesce(s.sync_id, o.sync_id),
                last_error = CASE WHEN s.status = 'sending' THEN o.last_error ELSE s.error END,
                field_errors = CASE WHEN s.status = 'sending' THEN o.field_errors
                                    ELSE s.field_errors::JSON END,
                updated_at = s.entered_at::TIMESTAMPTZ,
                sent_at = CASE WHEN s.status IN ('sent', 'uncertain') THEN s.entered_at::TIMESTAMPTZ
                               ELSE o.sent_at END
            FROM (
                SELECT target, record_key, tracking_id,
                       arg_max(status, seq) AS status, arg_max(remote_id, seq) AS remote_id,
                       arg_max(sync_id, seq) AS sync_id, arg_max(error, seq) AS error,
                       arg_max(field_errors, seq) AS field_errors,
                       arg_max(entered_at, seq) AS entered_at,
                       count(*) FILTER (WHERE status = 'sending') AS claims
                FROM journal GROUP BY ALL
            ) AS s
            WHERE o.target = s.target AND o.record_key = s.record_key
              AND o.tracking_id = s.tracking_id
            """
        ).fetchone()
        con.execute(
            f"INSERT OR REPLACE INTO {APPLIED} VALUES (?, ?)", [self.journal_id, entries[-1][0]]
        )
        return int(changed[0]) if changed else 0

    def forget_applied(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop the entries the warehouse has (after `apply`'s transaction committed)."""
        row = con.execute(
            f"SELECT seq FROM {APPLIED} WHERE journal_id = ?", [self.journal_id]
        ).fetchone()
        if row:
            self._db.execute("DELETE FROM entries WHERE seq <= ?", (int(row[0]),))

    def entries(self) -> list[dict]:
        """The entries still in the journal (those not yet known to be applied), oldest first."""
        rows = self._db.execute(
            "SELECT target, record_key, tracking_id, status FROM entries ORDER BY seq"
        ).fetchall()
        return [dict(zip(("target", "record_key", "tracking_id", "status"), r, strict=True))
                for r in rows]  # fmt: skip
