"""Folding stored Boss Insights webhook events into the warehouse, and settling the outbox.

The webhook receiver stores each event once in SQLite (it never opens DuckDB). `fold` copies the
events the warehouse does not have yet into `boss_insights.sync_events`, set-wise, keyed by the
receiver's sequence number, so folding twice changes nothing. Each event is read with the
configured `WebhookLayout` (`layout.py`): its ids, its object and message, a `problem` saying what
could not be read (missing ids, wrong types, an unknown outcome, a lone surrogate replaced), and
one outcome per destination in `boss_insights.sync_event_outcomes`. An event that cannot be read
is kept with its problem; an event the warehouse cannot take even then is kept as a quarantined
row (its problem says why), so one bad event never stops the others from folding.

When the layout changes (a user fixes where the outcome sits, say), every stored event is read
again with it, from its stored body and headers.

`reconcile` then settles each Boss Insights outbox row by all the events of its current attempt
(echoing its tracking id, or without one its sync id), whatever order they arrived in:
- any destination failed: `push_failed`, with the vendor's messages (a later success never
  hides it; the record is in the CDM, so it is not posted again);
- else any destination's outcome is not a configured success or failure value (or is missing):
  `unknown_outcome`, for a person;
- else every destination succeeded (each configured destination reported, when they are
  configured): `confirmed`. Only an explicit success confirms.
Events saying a push is still pending settle nothing.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from p2p_assets.lib.boss_insights.layout import ParsedEvent, WebhookLayout, parse
from p2p_assets.lib.warehouse.connection import transaction
from p2p_assets.lib.writeback import outbox

SCHEMA = "boss_insights"
TABLE = f"{SCHEMA}.sync_events"
OUTCOMES = f"{SCHEMA}.sync_event_outcomes"
LAYOUT = f"{SCHEMA}.sync_events_layout"
TARGET_PREFIX = "boss_insights:"
DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
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
)""",
    # Added after the first installations: ALTER keeps their folded events.
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS problem VARCHAR",
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS headers JSON",
    f"""CREATE TABLE IF NOT EXISTS {OUTCOMES} (
    seq BIGINT NOT NULL, destination VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
    value VARCHAR, message VARCHAR
)""",
    f"CREATE TABLE IF NOT EXISTS {LAYOUT} (fingerprint VARCHAR NOT NULL, read_at TIMESTAMPTZ)",
)
COLUMNS = ("seq", "request_id", "event", "received_at", "domain", "message", "sync_id",
           "tracking_id", "object", "outcome", "problem", "headers", "body")  # fmt: skip
OUTCOME_COLUMNS = ("seq", "destination", "outcome", "value", "message")
SETTLED_BY_EVENTS = ("pending", "sending", "sent", "uncertain", "confirmed", "push_failed",
                     "unknown_outcome")  # fmt: skip
"""Outbox statuses the events of the row's current attempt decide (pending and sending too: a
webhook can arrive before the run that sent the record has recorded it)."""


class StoredEvent(NamedTuple):
    """One event as the receiver stored it (headers: lower-case names; None when not kept)."""

    seq: int
    request_id: str
    received_at: str
    body: Any
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Folded:
    events: int
    confirmed: int
    failed: int
    unknown: int = 0
    problems: int = 0


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for statement in DDL:
        con.execute(statement)


def last_folded(con: duckdb.DuckDBPyConnection) -> int:
    ensure_table(con)
    row = con.execute(f"SELECT coalesce(max(seq), 0) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0


def clean(value: Any, found: list[bool]) -> Any:
    """`value` with every lone surrogate (which no UTF-8 text, and so no DuckDB JSON, can hold)
    replaced by U+FFFD; `found` gets True when one was."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            found.append(True)
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        return value
    if isinstance(value, Mapping):
        return {clean(str(k), found): clean(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v, found) for v in value]
    return value


def _rows(event: StoredEvent, layout: WebhookLayout) -> tuple[dict[str, Any], list[dict]]:
    """The `sync_events` row and the `sync_event_outcomes` rows of one stored event."""
    found: list[bool] = []
    body = clean(event.body, found)
    headers = clean(dict(event.headers), found) if event.headers is not None else None
    parsed: ParsedEvent = parse(body, headers, layout)
    problems = list(parsed.problems)
    if found:
        problems.insert(0, "lone surrogates (not text) replaced with U+FFFD")
    plain = body if isinstance(body, Mapping) else {}
    row = {
        "seq": int(event.seq),
        "request_id": clean(str(event.request_id), []),
        "event": _str(plain.get("event")) or "",
        "received_at": event.received_at,
        "domain": _str(plain.get("domain")),
        "message": parsed.message,
        "sync_id": parsed.sync_id,
        "tracking_id": parsed.tracking_id,
        "object": parsed.obj,
        "outcome": parsed.outcome,
        "problem": "; ".join(problems) or None,
        "headers": json.dumps(headers, ensure_ascii=False) if headers is not None else None,
        "body": json.dumps(body, ensure_ascii=False, default=str),
    }
    outcomes = [
        {"seq": int(event.seq), "destination": o.destination, "outcome": o.outcome,
         "value": o.value, "message": o.message}
        for o in parsed.outcomes
    ]  # fmt: skip
    return row, outcomes


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.Table:
    types = {"seq": pa.int64()}
    return pa.table({c: pa.array([r[c] for r in rows], types.get(c, pa.string())) for c in columns})


def _insert(con: duckdb.DuckDBPyConnection, rows: list[dict], outcomes: list[dict]) -> int:
    staged = _table(rows, COLUMNS)  # noqa: F841 - read by DuckDB's replacement scan below
    staged_outcomes = _table(outcomes, OUTCOME_COLUMNS)  # noqa: F841 - likewise
    inserted = con.execute(
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}, folded_at) "
        "SELECT seq, request_id, event, received_at::TIMESTAMPTZ, domain, message, sync_id, "
        "tracking_id, object, outcome, problem, headers::JSON, body::JSON, ? FROM staged "
        f"WHERE seq NOT IN (SELECT seq FROM {TABLE})",
        [datetime.now(UTC)],
    ).fetchone()
    con.execute(
        f"INSERT INTO {OUTCOMES} SELECT * FROM staged_outcomes "
        f"WHERE seq NOT IN (SELECT seq FROM {OUTCOMES})"
    )
    return int(inserted[0]) if inserted else 0


def _quarantine(con: duckdb.DuckDBPyConnection, event: StoredEvent, error: Exception) -> int:
    """The event the warehouse would not take, kept as a row without its body."""
    row = {c: None for c in COLUMNS} | {
        "seq": int(event.seq),
        "request_id": clean(str(event.request_id), []),
        "event": "",
        "received_at": datetime.now(UTC).isoformat(),
        "problem": f"quarantined, not folded: {str(error).splitlines()[0][:500]}",
        "body": "null",
    }
    with transaction(con):
        return _insert(con, [row], [])


def fold(
    con: duckdb.DuckDBPyConnection,
    events: Sequence[StoredEvent | tuple],
    layout: WebhookLayout | None = None,
) -> Folded:
    """Add `events` (the receiver's `(seq, request_id, received_at, body[, headers])`) and settle
    the outbox, in one transaction; an event the warehouse refuses is quarantined on its own."""
    layout = layout or WebhookLayout()
    stored = [e if isinstance(e, StoredEvent) else StoredEvent(*e) for e in events]
    ensure_table(con)
    outbox.ensure_outbox(con)
    parsed = [_rows(e, layout) for e in stored]
    rows = [r for r, _ in parsed]
    try:
        with transaction(con):
            reread(con, layout)
            inserted = _insert(con, rows, [o for _, outs in parsed for o in outs])
    except duckdb.Error:  # one event spoils the batch: fold them one by one, keep the bad one
        with transaction(con):
            reread(con, layout)
        inserted = 0
        for event, (row, outcomes) in zip(stored, parsed, strict=True):
            try:
                with transaction(con):
                    inserted += _insert(con, [row], outcomes)
            except duckdb.Error as exc:
                inserted += _quarantine(con, event, exc)
    with transaction(con):
        counts = reconcile(con, layout)
    problems = sum(1 for r in rows if r["problem"])
    return Folded(inserted, counts["confirmed"], counts["push_failed"],
                  counts["unknown_outcome"], problems)  # fmt: skip


def reread(con: duckdb.DuckDBPyConnection, layout: WebhookLayout) -> int:
    """Read every stored event again when `layout` is not the one they were read with (inside
    the caller's transaction); returns how many were read again."""
    ensure_table(con)
    row = con.execute(f"SELECT any_value(fingerprint) FROM {LAYOUT}").fetchone()
    if row and row[0] == layout.fingerprint():
        return 0
    stored = con.execute(
        f"SELECT seq, request_id, received_at::VARCHAR, body::VARCHAR, headers::VARCHAR "
        f"FROM {TABLE} WHERE body::VARCHAR <> 'null' ORDER BY seq"
    ).fetchall()
    parsed = [
        _rows(StoredEvent(s, r, at, json.loads(b), json.loads(h) if h else None), layout)
        for s, r, at, b, h in stored
    ]
    staged = _table([r for r, _ in parsed], COLUMNS)  # noqa: F841 - read by DuckDB below
    staged_outcomes = _table([o for _, outs in parsed for o in outs], OUTCOME_COLUMNS)  # noqa: F841
    con.execute(
        f"UPDATE {TABLE} AS t SET message = s.message, sync_id = s.sync_id, "
        "tracking_id = s.tracking_id, object = s.object, outcome = s.outcome, "
        "problem = s.problem FROM staged s WHERE t.seq = s.seq"
    )
    con.execute(f"DELETE FROM {OUTCOMES}")
    con.execute(f"INSERT INTO {OUTCOMES} SELECT * FROM staged_outcomes")
    con.execute(f"DELETE FROM {LAYOUT}")
    con.execute(f"INSERT INTO {LAYOUT} VALUES (?, ?)", [layout.fingerprint(), datetime.now(UTC)])
    return len(stored)


def reconcile(
    con: duckdb.DuckDBPyConnection, layout: WebhookLayout | None = None
) -> dict[str, int]:
    """Settle the Boss Insights rows by all the events of their current attempt; returns how
    many became `confirmed`, `push_failed` and `unknown_outcome` now."""
    layout = layout or WebhookLayout()
    ensure_table(con)
    outbox.ensure_outbox(con)
    statuses = ", ".join(f"'{s}'" for s in SETTLED_BY_EVENTS)
    expected = sorted({d.strip().lower() for d in layout.destinations if d.strip()})
    verdicts = f"""
        WITH matched AS (
            SELECT o.target, o.record_key, d.destination, d.outcome, d.value, d.message,
                   e.received_at, e.sync_id
            FROM {outbox.TABLE} o
            JOIN {TABLE} e ON e.tracking_id = o.tracking_id
                 OR (e.tracking_id IS NULL AND e.sync_id = o.sync_id
                     AND o.status NOT IN ('pending', 'sending'))
            JOIN {OUTCOMES} d ON d.seq = e.seq
            WHERE o.target LIKE '{TARGET_PREFIX}%' AND o.status IN ({statuses})
              AND d.outcome <> 'pending'
        ), destinations AS (
            SELECT target, record_key, destination,
                   CASE WHEN bool_or(outcome = 'failed') THEN 'failed'
                        WHEN bool_or(outcome = 'unknown') THEN 'unknown'
                        ELSE 'success' END AS verdict,
                   string_agg(DISTINCT coalesce(message, value, 'no message'), '; ')
                       FILTER (WHERE outcome = 'failed') AS failures,
                   string_agg(DISTINCT coalesce(value, 'no outcome given'), ', ')
                       FILTER (WHERE outcome = 'unknown') AS unknowns,
                   max(received_at) AS received_at, any_value(sync_id) AS sync_id
            FROM matched GROUP BY ALL
        )
        SELECT target, record_key,
               CASE WHEN bool_or(verdict = 'failed') THEN 'push_failed'
                    WHEN bool_or(verdict = 'unknown') THEN 'unknown_outcome'
                    WHEN list_has_all(list(lower(destination)), ?::VARCHAR[])
                    THEN 'confirmed' END AS status,
               CASE WHEN bool_or(verdict = 'failed') THEN 'Boss Insights push failed: ' ||
                         string_agg(CASE WHEN destination = '' THEN failures
                                         ELSE destination || ': ' || failures END, '; '
                                    ORDER BY destination) FILTER (WHERE verdict = 'failed')
                    WHEN bool_or(verdict = 'unknown') THEN 'Boss Insights push outcome ' ||
                         'unknown (not a configured success or failure value): ' ||
                         string_agg(CASE WHEN destination = '' THEN unknowns
                                         ELSE destination || ': ' || unknowns END, '; '
                                    ORDER BY destination) FILTER (WHERE verdict = 'unknown')
               END AS error,
               max(received_at) AS received_at, any_value(sync_id) AS sync_id
        FROM destinations GROUP BY ALL
    """
    changed = con.execute(
        f"""
        UPDATE {outbox.TABLE} AS o SET status = v.status, last_error = v.error,
            confirmed_at = CASE WHEN v.status = 'confirmed' THEN v.received_at END,
            sync_id = coalesce(o.sync_id, v.sync_id), updated_at = ?
        FROM ({verdicts}) AS v
        WHERE o.target = v.target AND o.record_key = v.record_key AND v.status IS NOT NULL
          AND (o.status <> v.status OR o.last_error IS DISTINCT FROM v.error)
        RETURNING o.status
        """,
        [datetime.now(UTC), expected],
    ).fetchall()
    counts = {"confirmed": 0, "push_failed": 0, "unknown_outcome": 0}
    for (status,) in changed:
        counts[status] += 1
    return counts
