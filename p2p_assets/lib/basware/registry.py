"""The registry of committed Basware extracts: `basware.extracts` (one row per extract, with when it
was loaded and acknowledged) and `basware.extract_tables` (per extract and table: files, records,
new and undelivered columns). Written in the same transaction as the extract's data."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb

from p2p_assets.lib.basware.tables import CURRENT_SCHEMA
from p2p_assets.lib.warehouse.connection import table_columns

if TYPE_CHECKING:
    from p2p_assets.lib.basware.loader import ExtractInfo, TableLoad


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {CURRENT_SCHEMA}.extracts (
            extract_id VARCHAR PRIMARY KEY, extract_type VARCHAR, extract_name VARCHAR,
            extract_date TIMESTAMP, start_date TIMESTAMP, end_date TIMESTAMP, file_count INTEGER,
            record_count BIGINT, loaded_at TIMESTAMP, acknowledged_at TIMESTAMP)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {CURRENT_SCHEMA}.extract_tables (
            extract_id VARCHAR, table_name VARCHAR, file_count INTEGER, record_count BIGINT,
            new_columns VARCHAR[], missing_columns VARCHAR[], loaded_at TIMESTAMP,
            PRIMARY KEY (extract_id, table_name))"""
    )


def record_extract(
    con: duckdb.DuckDBPyConnection,
    extract: "ExtractInfo",
    results: Mapping[str, "TableLoad"],
    loaded_at: datetime,
) -> None:
    con.execute(f"DELETE FROM {CURRENT_SCHEMA}.extract_tables WHERE extract_id = ?", [extract.id])
    con.executemany(
        f"INSERT INTO {CURRENT_SCHEMA}.extract_tables VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            [extract.id, t, len(r.files), r.records, r.new_columns, r.missing_columns, loaded_at]
            for t, r in results.items()
        ],
    )
    # Keep an earlier acknowledgement: re-loading an extract does not un-acknowledge it upstream.
    con.execute(
        f"""INSERT INTO {CURRENT_SCHEMA}.extracts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
            ON CONFLICT (extract_id) DO UPDATE SET extract_type = excluded.extract_type,
              extract_name = excluded.extract_name, extract_date = excluded.extract_date,
              start_date = excluded.start_date, end_date = excluded.end_date,
              file_count = excluded.file_count, record_count = excluded.record_count,
              loaded_at = excluded.loaded_at""",
        [
            extract.id,
            extract.type,
            extract.name,
            extract.extract_date,
            extract.start_date,
            extract.end_date,
            extract.file_count,
            sum(r.records for r in results.values()),
            loaded_at,
        ],
    )


def mark_acknowledged(con: duckdb.DuckDBPyConnection, extract_id: str) -> None:
    """Record that the extract was acknowledged upstream (after its data was committed); a later
    re-run acknowledges again but keeps the time of the first acknowledgement."""
    con.execute(
        f"UPDATE {CURRENT_SCHEMA}.extracts SET acknowledged_at = coalesce(acknowledged_at, ?) "
        "WHERE extract_id = ?",
        [datetime.now(UTC).replace(tzinfo=None), extract_id],
    )


def loaded_tables(con: duckdb.DuckDBPyConnection, extract_id: str) -> dict[str, int]:
    """Tables committed for an extract, with their record counts (empty when the extract is not
    loaded).
    """
    if not table_columns(con, CURRENT_SCHEMA, "extract_tables"):
        return {}
    rows = con.execute(
        f"SELECT table_name, record_count FROM {CURRENT_SCHEMA}.extract_tables "
        "WHERE extract_id = ?",
        [extract_id],
    ).fetchall()
    return {table: count for table, count in rows}
