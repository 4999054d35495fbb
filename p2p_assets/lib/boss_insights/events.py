"""Folding stored Boss Insights webhook events into the warehouse, and confirming the outbox.

The webhook receiver stores each event once in SQLite (it never opens DuckDB). `fold` copies the
events the warehouse does not have yet into `boss_insights.sync_events`, set-wise, keyed by the
receiver's sequence number, so folding twice changes nothing. `reconcile` then settles every
Boss Insights outbox row still waiting for its outcome (`sent`, `uncertain`, or still `pending`
or `sending` while its run's journal is not applied: the vendor only ever sees a tracking id once
it was sent) by the newest event echoing its tracking id (or, without one, its sync id): a
successful push confirms the row; a failed one marks it `failed`, so the next materialisation
sends it again.

Boss Insights does not publish its event payloads beyond `event`, `requestId`, `domain`, `message`
and `data`; the ids and the outcome are read from `data` (`trackingId`/`syncId`, `status` or
`success`), in camelCase or snake_case.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from p2p_assets.lib.warehouse.connection import transaction
from p2p_assets.lib.writeback import outbox

SCHEMA = "boss_insights"
TABLE = f"{SCHEMA}.sync_events"
TARGET_PREFIX = "boss_insights:"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq BIGINT NOT NULL PRIMARY KEY,
    request_id VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    domain VARCHAR,
    message VARCHAR,
    sync_id VARCHAR,
    tracking_id VARCHAR,
    object VARCHAR,
    outcome VARCHAR,
    body JSON NOT NULL,
    folded_at TIMESTAMPTZ NOT NULL
)"""
_FAILED = "('failed', 'failure', 'error', 'errored')"


@dataclass(frozen=True)
class Folded:
    events: int
    confirmed: int
    failed: int


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(DDL)


def last_folded(con: duckdb.DuckDBPyConnection) -> int:
    ensure_table(con)
    row = con.execute(f"SELECT coalesce(max(seq), 0) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0


def fold(
    con: duckdb.DuckDBPyConnection, events: Sequence[tuple[int, str, str, dict[str, Any]]]
) -> Folded:
    """Add `events` (the receiver's `(seq, request_id, received_at, body)`) and reconcile the
    outbox, in one transaction."""
    staged = pa.table(  # noqa: F841 - read by DuckDB's replacement scan below
        {
            "seq": pa.array([e[0] for e in events], pa.int64()),
            "request_id": pa.array([e[1] for e in events], pa.string()),
            "received_at": pa.array([e[2] for e in events], pa.string()),
            "body": pa.array([json.dumps(e[3]) for e in events], pa.string()),
        }
    )
    ensure_table(con)
    outbox.ensure_outbox(con)
    with transaction(con):
        inserted = con.execute(
            f"""
            INSERT INTO {TABLE}
            SELECT seq, request_id, coalesce(b->>'event', ''), received_at::TIMESTAMPTZ,
                   b->>'domain', b->>'message', sync_id, tracking_id, b->'data'->>'object',
                   CASE WHEN sync_id IS NULL AND tracking_id IS NULL THEN NULL
                        WHEN lower(coalesce(b->'data'->>'status', '')) IN {_FAILED}
                          OR lower(coalesce(b->'data'->>'success', '')) = 'false'
                        THEN 'failed' ELSE 'success' END,
                   b, ?
            FROM (
                SELECT *, body::JSON AS b,
                       coalesce(body::JSON->'data'->>'syncId', body::JSON->'data'->>'sync_id')
                           AS sync_id,
                       coalesce(body::JSON->'data'->>'trackingId',
                                body::JSON->'data'->>'tracking_id') AS tracking_id
                FROM staged
            )
            WHERE seq NOT IN (SELECT seq FROM {TABLE})
            """,
            [datetime.now(UTC)],
        ).fetchone()
        confirmed, failed = reconcile(con)
    return Folded(int(inserted[0]) if inserted else 0, confirmed, failed)


def reconcile(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Settle the Boss Insights rows still waiting by their newest event; (confirmed, failed)."""
    ensure_table(con)
    latest = f"""(
        SELECT tracking_id, sync_id,
               arg_max(outcome, seq) AS outcome, arg_max(message, seq) AS message,
               arg_max(received_at, seq) AS received_at
        FROM {TABLE} WHERE outcome IS NOT NULL GROUP BY tracking_id, sync_id
    ) AS e"""
    match = (
        f"o.target LIKE '{TARGET_PREFIX}%' "
        "AND o.status IN ('pending', 'sending', 'sent', 'uncertain') "
        "AND ((e.tracking_id IS NOT NULL AND o.tracking_id = e.tracking_id) "
        "OR (e.tracking_id IS NULL AND o.sync_id = e.sync_id))"
    )
    now = datetime.now(UTC)
    confirmed = con.execute(
        f"UPDATE {outbox.TABLE} AS o SET status = 'confirmed', confirmed_at = e.received_at, "
        "sync_id = coalesce(o.sync_id, e.sync_id), last_error = NULL, updated_at = ? "
        f"FROM {latest} WHERE {match} AND e.outcome = 'success'",
        [now],
    ).fetchone()
    failed = con.execute(
        f"UPDATE {outbox.TABLE} AS o SET status = 'failed', "
        "sync_id = coalesce(o.sync_id, e.sync_id), "
        "last_error = 'Boss Insights push failed: ' || coalesce(e.message, 'no message'), "
        f"updated_at = ? FROM {latest} WHERE {match} AND e.outcome = 'failed'",
        [now],
    ).fetchone()
    return (int(confirmed[0]) if confirmed else 0, int(failed[0]) if failed else 0)
