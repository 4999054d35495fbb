"""Committing one landed Visma file to DuckDB: its inventory row and its parsed rows, together.

One transaction per file: the file's rows in every table it feeds are replaced (delete by
`file_id`, then one set-wise insert from Arrow), its row in `visma.files` is replaced, and the
current tables its business type keeps are rebuilt. Loading a file twice, or files in any order,
therefore ends in the same warehouse. Where the rows go depends on the business type's kind:

- delivery:  `visma.<table>`, every file's rows.
- snapshot:  `visma_history.<table>`, every file's rows; `visma.<table>` the newest file's.
- mutations: `visma_history.<table>`, every mutation; `visma.<table>` the latest mutation per key,
  in upload order (so the state is as if the files were applied oldest first).
"""

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from p2p_assets.lib.visma.business_types import MUTATION_KEYS, Kind
from p2p_assets.lib.visma.formats import ParsedFile
from p2p_assets.lib.visma.landing import LandedFile
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import quote_ident, transaction

SCHEMA = "visma"
HISTORY_SCHEMA = "visma_history"

FILES_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.files (
    file_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    business_type_id INTEGER NOT NULL,
    business_type_name VARCHAR,
    file_size BIGINT,
    upload_date TIMESTAMPTZ,
    sha256 VARCHAR NOT NULL,
    downloaded_at TIMESTAMPTZ NOT NULL,
    landing_path VARCHAR NOT NULL,
    format VARCHAR,
    records BIGINT,
    loaded_at TIMESTAMPTZ NOT NULL
)"""


@dataclass
class FileLoad:
    """What a load committed, for the asset's metadata."""

    format: str | None
    records: int
    tables: dict[str, int] = field(default_factory=dict)  # qualified table -> rows now
    current_file_id: str | None = None  # snapshot kinds: the file the current table holds


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA}")
    con.execute(FILES_DDL)


def load_file(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    parsed: ParsedFile | None,
    kind: Kind,
    loaded_at: datetime,
    *,
    source: sources.Source | None = None,
) -> FileLoad:
    """`source` (where the file came from) is claimed in the same transaction."""
    file = landed.file
    ensure_schemas(con)
    load = FileLoad(parsed.format if parsed else None, parsed.records if parsed else 0)
    with transaction(con):
        if source is not None:
            sources.claim(con, source)
        con.execute(f"DELETE FROM {SCHEMA}.files WHERE file_id = ?", [file.file_id])
        con.execute(
            f"INSERT INTO {SCHEMA}.files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                file.file_id, file.file_name, file.business_type_id, file.business_type_name,
                file.file_size if file.file_size is not None else landed.size, file.upload_date,
                landed.sha256, landed.downloaded_at, str(landed.path), load.format,
                load.records, loaded_at,
            ],
        )  # fmt: skip
        for table, rows in (parsed.tables if parsed else {}).items():
            schema = SCHEMA if kind == "delivery" else HISTORY_SCHEMA
            _replace_file_rows(con, f"{schema}.{quote_ident(table)}", file.file_id, rows)
            if kind == "snapshot":
                load.current_file_id = _rebuild_snapshot(con, table, file.business_type_id)
            elif kind == "mutations":
                _rebuild_applied(con, table)
            name = f"{SCHEMA}.{quote_ident(table)}"
            count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            load.tables[f"{SCHEMA}.{table}"] = int(count[0]) if count else 0
    return load


def _replace_file_rows(
    con: duckdb.DuckDBPyConnection, target: str, file_id: str, rows: pa.Table
) -> None:
    # `rows` is found by DuckDB's replacement scan: the Arrow table is read in place, set-wise.
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM rows LIMIT 0")
    con.execute(f"DELETE FROM {target} WHERE file_id = ?", [file_id])
    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM rows")


def _rebuild_snapshot(con: duckdb.DuckDBPyConnection, table: str, business_type_id: int) -> str:
    """`visma.<table>` becomes the newest loaded file's rows; returns that file's id."""
    newest = con.execute(
        f"SELECT h.file_id FROM (SELECT DISTINCT file_id "
        f"FROM {HISTORY_SCHEMA}.{quote_ident(table)}) h "
        f"JOIN {SCHEMA}.files f USING (file_id) WHERE f.business_type_id = ? "
        "ORDER BY f.upload_date DESC NULLS LAST, f.file_id DESC LIMIT 1",
        [business_type_id],
    ).fetchone()
    assert newest is not None  # the file being loaded is there
    con.execute(
        f"CREATE OR REPLACE TABLE {SCHEMA}.{quote_ident(table)} AS "
        f"SELECT * FROM {HISTORY_SCHEMA}.{quote_ident(table)} WHERE file_id = ?",
        [newest[0]],
    )
    return str(newest[0])


def _rebuild_applied(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """`visma.<table>`: the last mutation per key, replaying every file in upload order."""
    keys = ", ".join(f"h.{quote_ident(k)}" for k in MUTATION_KEYS.get(table, ("line_number",)))
    con.execute(
        f"CREATE OR REPLACE TABLE {SCHEMA}.{quote_ident(table)} AS "
        f"SELECT h.*, f.upload_date AS applied_upload_date "
        f"FROM {HISTORY_SCHEMA}.{quote_ident(table)} h JOIN {SCHEMA}.files f USING (file_id) "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} "
        "ORDER BY f.upload_date DESC NULLS LAST, h.file_id DESC, h.line_number DESC) = 1"
    )


def loaded_file_ids(con: duckdb.DuckDBPyConnection, business_type_id: int) -> set[str]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = 'files'",
        [SCHEMA],
    ).fetchone()
    if not exists or not exists[0]:
        return set()
    rows = con.execute(
        f"SELECT file_id FROM {SCHEMA}.files WHERE business_type_id = ?", [business_type_id]
    ).fetchall()
    return {row[0] for row in rows}
