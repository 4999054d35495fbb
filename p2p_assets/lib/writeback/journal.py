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

One write-back run per target goes from its plan to its record: the plan (in the warehouse's
pool) takes the target's lease here, the send (in the vendor's pool) goes on only while its run
still holds it, and the record gives it back. Without it a second run could plan while the first
is still sending: it would queue the records the first is about to send (a create-only target
would get them twice) and re-plan records under new tracking ids while answers under the old ones
are still to come. A lease whose run has ended (failed, or killed and then marked failed by the
recovery) is taken over by the next plan, which applies that run's journal first.

A send step calls Workspace 365 or Boss Insights from several threads at once (`outbox.py`
`send_pending`): one connection serves them all, each use of it under one lock, so a claim or an
outcome is one whole transaction whichever thread writes it. Claims made together (`claim_many`,
the records about to go out at once) share one commit and one fsync.
"""

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
);
CREATE TABLE IF NOT EXISTS leases (
    target TEXT PRIMARY KEY, run_id TEXT NOT NULL, taken_at TEXT NOT NULL
);
"""
APPLIED = "writeback.journal_applied"


class LeaseHeldError(Exception):
    """Another run, which has not ended, planned the target and has not recorded yet."""

    def __init__(self, target: str, run_id: str, taken_at: str):
        super().__init__(
            f"write-back to {target}: run {run_id} planned it at {taken_at[:19]} UTC and has not "
            "recorded what it sent yet; nothing was planned or sent. Run again when that run has "
            "ended (a run whose process is gone is marked failed by the next `p2p-assets sync` "
            "or the daemon's abandoned_runs_sensor)"
        )
        self.target, self.run_id = target, run_id


class StalePlanError(Exception):
    """A send whose plan is no longer the target's current one (another run planned since)."""

    def __init__(self, target: str, planned_by: str, holder: str | None):
        since = f"run {holder} holds it now" if holder else "another run planned and recorded since"
        super().__init__(
            f"write-back to {target}: the plan of run {planned_by} is no longer current ({since}); "
            "nothing was sent. Materialise the asset again: a re-execution from its send step "
            "reuses that old plan"
        )
        self.target, self.planned_by, self.holder = target, planned_by, holder


def journal_path(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.name}.outbox-journal.sqlite3")


class Journal:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Every use of the connection holds this lock (reentrant: a lease transaction reads and
        # writes inside it), so threads never interleave statements of one transaction.
        self._lock = threading.RLock()
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
        with self._lock:
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
        self.claim_many(target, [(key, tracking_id)])

    def claim_many(self, target: str, records: Sequence[tuple[str, str]]) -> None:
        """Claim the records (key, tracking id) about to be sent at once: one transaction,
        committed and on disk (fsync) before any of their calls."""
        if not records:
            return
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            with self._immediate():
                for key, tracking_id in records:
                    self._add(target, key, tracking_id, "sending")

    def take_lease(self, target: str, run_id: str, *, ended: Callable[[str], bool]) -> None:
        """The plan of `run_id` takes `target`, or raises `LeaseHeldError` while a run for which
        `ended` is false holds it."""
        with self._immediate():
            held = self._lease(target)
            if held and held[0] != run_id and not ended(held[0]):
                raise LeaseHeldError(target, *held)
            self._db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                (target, run_id, datetime.now(UTC).isoformat()),
            )

    def keep_lease(
        self, target: str, run_id: str, planned_by: str, *, ended: Callable[[str], bool]
    ) -> None:
        """Before sending what the plan of run `planned_by` queued: go on while `run_id` holds
        `target`, or take it over from `planned_by` once that run has ended (a re-execution of
        its send: nobody planned since). Otherwise raise `StalePlanError`."""
        with self._immediate():
            held = self._lease(target)
            holder = held[0] if held else None
            if holder == run_id:
                return
            if holder is None or holder != planned_by or not ended(holder):
                raise StalePlanError(target, planned_by, holder)
            self._db.execute("UPDATE leases SET run_id = ? WHERE target = ?", (run_id, target))

    def give_back_lease(self, target: str, run_id: str) -> None:
        """After the record: `target` is free (unless another run took it over meanwhile)."""
        with self._lock:
            self._db.execute("DELETE FROM leases WHERE target = ? AND run_id = ?", (target, run_id))

    def _lease(self, target: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, taken_at FROM leases WHERE target = ?", (target,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """One transaction that holds SQLite's write lock from its start (read, then write), and
        this connection's lock throughout."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._add(
                target, key, tracking_id, status, remote_id=remote_id, sync_id=sync_id,
                error=error, field_errors=json.dumps(dict(field_errors)) if field_errors else None,
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
        with self._lock:
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
            with self._lock:
                self._db.execute("DELETE FROM entries WHERE seq <= ?", (int(row[0]),))

    def entries(self) -> list[dict]:
        """The entries still in the journal (those not yet known to be applied), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT target, record_key, tracking_id, status FROM entries ORDER BY seq"
            ).fetchall()
        return [dict(zip(("target", "record_key", "tracking_id", "status"), r, strict=True))
                for r in rows]  # fmt: skip
