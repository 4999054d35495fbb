"""`writeback.outbox`: one row per record and target, so nothing is sent twice and nothing is lost.

    pending --claim--> sending --> sent --(webhook)--> confirmed
                               \\-> rejected   (our validation or the vendor's, with the reasons)
                               \\-> uncertain  (sent, no answer: the record may exist upstream)
                               \\-> failed     (not created: retried on the next run)
           sent --(webhook)--> push_failed      (in the vendor, not pushed on: for a person)
           sent --(webhook)--> unknown_outcome  (no explicit success: for a person)

A record is claimed (`sending`) in the send journal (`journal.py`), committed, *before* the call,
and its outcome is journalled after it; the journal reaches this table set-wise at the end of the
run. A run that dies after the vendor accepted a record but before it recorded the answer leaves
a claim without an outcome; the next run's plan turns it into `uncertain` (for a person, when the
vendor cannot be asked) instead of sending it again. Targets whose vendor echoes our tracking id
(Boss Insights webhooks) reconcile such rows; a tracking id names one attempt only.

Each materialisation first *plans* (one transaction, set-wise): the journal a crashed run left is
applied, new keys become `pending` (or `rejected` when our validation failed), records whose
payload changed are re-queued, or for create-only targets (Workspace 365) only flagged
`changed_since_sent`, and `failed` rows are retried. Then the send step sends the `pending`
rows, several at once (`sending.py`).
"""

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from p2p_assets.lib.warehouse.connection import transaction
from p2p_assets.lib.writeback.journal import Journal
from p2p_assets.lib.writeback.sending import (  # noqa: F401 - the outbox's API, defined there
    CRASH_AFTER,
    Outcome,
    StopSending,
    crash_for_tests,
    send_pending,
)

SCHEMA = "writeback"
TABLE = f"{SCHEMA}.outbox"
STATUSES = ("pending", "sending", "sent", "rejected", "confirmed", "uncertain", "failed",
            "push_failed", "unknown_outcome")  # fmt: skip
UPSTREAM = "('sent', 'confirmed', 'uncertain', 'push_failed', 'unknown_outcome')"
"""The statuses of a record that may exist upstream: a change is an update, never a create."""
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    target VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    payload JSON NOT NULL,
    payload_hash VARCHAR NOT NULL,
    tracking_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    remote_id VARCHAR,
    sync_id VARCHAR,
    attempts INTEGER NOT NULL,
    last_error VARCHAR,
    field_errors JSON,
    changed_since_sent BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    confirmed_at TIMESTAMPTZ
)"""


@dataclass(frozen=True)
class Candidate:
    """A record the target's query wants upstream, with our validation's verdict."""

    key: str
    payload: Mapping[str, Any]
    payload_hash: str
    field_errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    key: str
    payload: dict[str, Any]
    tracking_id: str
    remote_id: str | None = None  # the vendor's id for the record, once it created it


def payload_hash(payload: Mapping[str, Any], ignore: Sequence[str] = ()) -> str:
    """A stable hash of what is sent, without the fields that change on their own (`ignore`)."""
    kept = {k: v for k, v in payload.items() if k not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(DDL)


def plan(
    con: duckdb.DuckDBPyConnection,
    target: str,
    candidates: Sequence[Candidate],
    *,
    create_only: bool,
    journal: Journal,
    stale_sending: str = "uncertain",
    update_needs_remote_id: bool = False,
) -> None:
    """Bring the outbox in line with what the query wants now (one transaction). With
    `update_needs_remote_id` (an update addressed by the vendor's id), a changed record whose
    remote id is unknown is only flagged `changed_since_sent`, as for a create-only target."""
    now = datetime.now(UTC)
    staged = pa.table(  # noqa: F841 - read by DuckDB's replacement scan below
        {
            "record_key": [c.key for c in candidates],
            "payload": [json.dumps(c.payload, default=str) for c in candidates],
            "payload_hash": [c.payload_hash for c in candidates],
            "status": ["rejected" if c.field_errors else "pending" for c in candidates],
            "field_errors": [
                json.dumps(dict(c.field_errors)) if c.field_errors else None for c in candidates
            ],  # fmt: skip
            "tracking_id": [str(uuid.uuid4()) for _ in candidates],
        },
        schema=pa.schema(
            [
                ("record_key", pa.string()),
                ("payload", pa.string()),
                ("payload_hash", pa.string()),
                ("status", pa.string()),
                ("field_errors", pa.string()),
                ("tracking_id", pa.string()),
            ]
        ),  # fmt: skip
    )
    ensure_outbox(con)
    with transaction(con):
        journal.apply(con, TABLE)  # what a crashed run journalled, claims without an outcome too
        # A run that died mid-call left `sending`: never send those again blindly.
        con.execute(
            f"UPDATE {TABLE} SET status = ?, updated_at = ?, last_error = 'the run sending it "
            "stopped before recording the answer' WHERE target = ? AND status = 'sending'",
            [stale_sending, now, target],
        )
        # Never sent (rejected or failed) or updatable upstream: the new payload replaces the old.
        requeue = "o.status IN ('rejected', 'failed', 'pending')"
        updatable = "o.remote_id IS NOT NULL" if update_needs_remote_id else "true"
        if not create_only:
            requeue += f" OR (o.status IN {UPSTREAM} AND {updatable})"
        con.execute(
            f"UPDATE {TABLE} AS o SET payload = s.payload::JSON, payload_hash = s.payload_hash, "
            "status = s.status, field_errors = s.field_errors::JSON, last_error = NULL, "
            "tracking_id = s.tracking_id, changed_since_sent = false, updated_at = ? "
            f"FROM staged s WHERE o.target = ? AND o.record_key = s.record_key "
            f"AND o.payload_hash <> s.payload_hash AND ({requeue})",
            [now, target],
        )
        # A pending record our validation refuses now (one a person re-queued that is still
        # wrong): never sent, rejected with today's reasons.
        con.execute(
            f"UPDATE {TABLE} AS o SET status = 'rejected', field_errors = s.field_errors::JSON, "
            "updated_at = ? FROM staged s WHERE o.target = ? AND o.record_key = s.record_key "
            "AND o.status = 'pending' AND s.status = 'rejected'",
            [now, target],
        )
        if create_only or update_needs_remote_id:  # cannot be updated: report, never create
            con.execute(
                f"UPDATE {TABLE} AS o SET changed_since_sent = true, updated_at = ? "
                "FROM staged s WHERE o.target = ? AND o.record_key = s.record_key "
                "AND o.payload_hash <> s.payload_hash AND NOT o.changed_since_sent "
                f"AND o.status IN {UPSTREAM}" + ("" if create_only else " AND o.remote_id IS NULL"),
                [now, target],
            )
        # Not created upstream last time (a network or server refusal): try
        # again, under a new tracking id, so the vendor's echo names one attempt only.
        con.execute(
            f"UPDATE {TABLE} SET status = 'pending', tracking_id = uuid()::VARCHAR, "
            "updated_at = ? WHERE target = ? AND status = 'failed'",
            [now, target],
        )
        con.execute(
            f"INSERT INTO {TABLE} SELECT ?, s.record_key, s.payload::JSON, s.payload_hash, "
            "s.tracking_id, s.status, NULL, NULL, 0, NULL, s.field_errors::JSON, false, ?, ?, "
            f"NULL, NULL FROM staged s WHERE s.record_key NOT IN "
            f"(SELECT record_key FROM {TABLE} WHERE target = ?)",
            [target, now, now, target],
        )
    journal.forget_applied(con)


def outgoing(con: duckdb.DuckDBPyConnection, target: str) -> list[Outgoing]:
    rows = con.execute(
        f"SELECT record_key, payload, tracking_id, remote_id FROM {TABLE} "
        "WHERE target = ? AND status = 'pending' ORDER BY created_at, record_key",
        [target],
    ).fetchall()
    return [Outgoing(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]


def record_journal(con: duckdb.DuckDBPyConnection, journal: Journal) -> int:
    """Apply the run's journal to the outbox (one transaction), then drop what was applied."""
    ensure_outbox(con)
    with transaction(con):
        changed = journal.apply(con, TABLE)
    journal.forget_applied(con)
    return changed


def summary(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, int]:
    counts = Counter({status: 0 for status in STATUSES})
    for status, n in con.execute(
        f"SELECT status, count(*) FROM {TABLE} WHERE target = ? GROUP BY 1", [target]
    ).fetchall():
        counts[status] = int(n)
    changed = con.execute(
        f"SELECT count(*) FROM {TABLE} WHERE target = ? AND changed_since_sent", [target]
    ).fetchone()
    return {**counts, "changed_since_sent": int(changed[0]) if changed else 0}


def rejections(con: duckdb.DuckDBPyConnection, target: str, limit: int = 5) -> list[dict]:
    rows = con.execute(
        f"SELECT record_key, last_error, field_errors FROM {TABLE} "
        "WHERE target = ? AND status = 'rejected' ORDER BY updated_at, record_key LIMIT ?",
        [target, limit],
    ).fetchall()
    return [
        {"record": r[0], "error": r[1], "field_errors": json.loads(r[2]) if r[2] else None}
        for r in rows
    ]
