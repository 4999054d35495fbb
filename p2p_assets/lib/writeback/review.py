"""What a person sees of a write-back target's records, and decides about them: the rows of
`writeback.outbox` with their reasons (`p2p-assets outbox list`), and re-queueing those a
person has dealt with (`p2p-assets outbox requeue`).

Only records nobody will send again by themselves can be re-queued: `rejected` (refused by our
validation or the vendor's), `uncertain` (sent, no answer: a person checked the vendor and found
no record) and `failed`. A re-queued record is `pending` again under a new tracking id, keeps
its attempts, and carries a note of who re-queued it, when, and the reason it had; the next run
sends it (a record our validation still refuses is rejected again by that run's plan).
"""

import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from p2p_assets.lib.warehouse.connection import table_columns, transaction
from p2p_assets.lib.writeback.outbox import SCHEMA, STATUSES, TABLE

REQUEUEABLE = ("rejected", "uncertain", "failed")
SETTLED = ("pending", "sending", "sent", "confirmed")
"""Statuses that need nobody: what `list` leaves out unless asked for."""
_WIDTHS = {"last error": 56, "field errors": 40}  # wrapped at these widths; other cells whole


@dataclass(frozen=True)
class Row:
    key: str
    status: str
    attempts: int
    last_error: str | None
    field_errors: dict[str, Any] | None
    updated_at: datetime


def attention() -> tuple[str, ...]:
    """The statuses that wait for a person (every known status but the settled ones)."""
    return tuple(s for s in STATUSES if s not in SETTLED)


def targets(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not table_columns(con, SCHEMA, "outbox"):
        return []
    return [r[0] for r in con.execute(f"SELECT DISTINCT target FROM {TABLE} ORDER BY 1").fetchall()]


def counts(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, int]:
    rows = con.execute(
        f"SELECT status, count(*) FROM {TABLE} WHERE target = ? GROUP BY 1 ORDER BY 1", [target]
    ).fetchall()
    return {status: int(n) for status, n in rows}


def rows(con: duckdb.DuckDBPyConnection, target: str, statuses: tuple[str, ...]) -> list[Row]:
    found = con.execute(
        f"SELECT record_key, status, attempts, last_error, field_errors, updated_at FROM {TABLE} "
        "WHERE target = ? AND list_contains(?::VARCHAR[], status) "
        "ORDER BY status, updated_at, record_key",
        [target, list(statuses)],
    ).fetchall()
    return [
        Row(r[0], r[1], int(r[2]), r[3], json.loads(r[4]) if r[4] else None, r[5]) for r in found
    ]


def requeue(
    con: duckdb.DuckDBPyConnection,
    target: str,
    status: str,
    keys: list[str] | None,
    *,
    by: str,
) -> list[str]:
    """Back to `pending` every record of `target` in `status` (only those among `keys`, when
    given), in one transaction; returns the keys re-queued."""
    if status not in REQUEUEABLE:
        raise ValueError(f"only {', '.join(REQUEUEABLE)} records can be re-queued, not {status}")
    now = datetime.now(UTC)
    note = f"re-queued by {by} on {now:%Y-%m-%d %H:%M} UTC from {status}; it was: "
    with transaction(con):
        done = con.execute(
            f"UPDATE {TABLE} SET status = 'pending', tracking_id = uuid()::VARCHAR, "
            "changed_since_sent = false, updated_at = ?, "
            "last_error = ? || coalesce(last_error, 'no reason recorded') "
            "WHERE target = ? AND status = ? "
            "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], record_key)) "
            "RETURNING record_key",
            [now, note, target, status, keys, keys],
        ).fetchall()
    return sorted(r[0] for r in done)


def render(found: list[Row]) -> str:
    """The rows as a table for a terminal: long reasons wrapped within their column."""
    header = ["key", "status", "attempts", "last error", "field errors", "updated at (UTC)"]
    cells = [
        [
            row.key,
            row.status,
            str(row.attempts),
            row.last_error or "",
            "; ".join(f"{name}: {_message(error)}" for name, error in row.field_errors.items())
            if row.field_errors
            else "",
            f"{row.updated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        ]
        for row in found
    ]
    wrapped = [
        [textwrap.wrap(cell, _WIDTHS[name]) or [""] if name in _WIDTHS else [cell]
         for name, cell in zip(header, line, strict=True)]
        for line in cells
    ]  # fmt: skip
    widths = [
        max([len(name), *(len(part) for line in wrapped for part in line[i])])
        for i, name in enumerate(header)
    ]
    out = [_line(header, widths), _line(["-" * w for w in widths], widths)]
    for line in wrapped:
        for depth in range(max(len(cell) for cell in line)):
            out.append(_line([cell[depth] if depth < len(cell) else "" for cell in line], widths))
    return "\n".join(out) + "\n"


def _message(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


def _line(values: list[str], widths: list[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()
