"""Load one Basware extract into the DuckDB warehouse, set-wise and atomically.

For every table, `basware_history.<table>` keeps each delivered version of a record with its lineage
(`_extract_id`, `_extract_date`, `_file_name`, `_loaded_at`), and `basware.<table>` holds the
current state: the latest version of each `ID` in extract order. Loading an extract replaces that
extract's history rows and recomputes the current rows of the ids it touches, so re-loading any
extract, in any order, gives the same warehouse, and the cost is proportional to the extract, not to
the table. The whole extract commits in one transaction or not at all.
"""

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from p2p_assets.lib.basware.models import table_name_problem
from p2p_assets.lib.basware.reading import (
    SOURCE_COLUMN,
    BaswareExtractError,
    BaswareFileError,
    ExtractInfo,
    SourceFile,
    delivered_columns,
    stage,
    validate,
)
from p2p_assets.lib.basware.registry import ensure_registry, record_extract
from p2p_assets.lib.basware.schema import duckdb_type, widens
from p2p_assets.lib.basware.tables import ALL_TABLES, CURRENT_SCHEMA, HISTORY_SCHEMA, KEY_COLUMN
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import quote_ident, transaction

log = logging.getLogger(__name__)

LINEAGE_COLUMNS = {
    "_extract_id": "VARCHAR",
    "_extract_date": "TIMESTAMP",
    "_file_name": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}
# (schema, table) -> {column: DuckDB type}, in column order: the warehouse's tables as one load
# changes them (read once, instead of a catalog query per table and schema).
Catalog = dict[tuple[str, str], dict[str, str]]


# DuckDB expands these in reader paths; a path holding one would read other files.
_GLOB = re.compile(r"[*?\[\]{}]")


@dataclass
class TableLoad:
    """What one extract did to one table."""

    table: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    current_rows: int = 0
    history_rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    new_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)


def warehouse_table(table_name: str) -> str:
    """`IA_INVOICE` -> `ia_invoice`: the name of a Basware table in both warehouse schemas."""
    return table_name.lower()


def table_order(table: str) -> tuple[int, str]:
    """The tables we know in their documented order, then any table Basware added, by name."""
    return (ALL_TABLES.index(table) if table in ALL_TABLES else len(ALL_TABLES), table)


def load_extract(
    con: duckdb.DuckDBPyConnection,
    extract: ExtractInfo,
    files: Sequence[SourceFile],
    definitions: Mapping[str, Mapping[str, str]],
    tables: Iterable[str],
    *,
    source: sources.Source | None = None,
    before_commit: Callable[[], None] | None = None,
) -> dict[str, TableLoad]:
    """Load `files` of `extract` into both schemas for `tables` (plus any table a file belongs to),
    atomically.

    `definitions` maps table name to {column: Oracle type} from Basware's table definition. Tables
    without files in this extract are still created and reconciled, so every table of the tenant
    shows up, possibly empty; a table Basware added is loaded like the others. `source` (where
    the data came from) is claimed in the same transaction (see `lib/warehouse/sources.py`).
    `before_commit` runs last inside the transaction: raising there commits nothing.
    """
    for source_file in files:
        problem = table_name_problem(source_file.table_name)
        if problem:
            raise BaswareFileError(extract.id, source_file.file_name, problem)
        if source_file.error:
            raise BaswareFileError(
                extract.id, source_file.file_name, source_file.error, corrupt=True
            )
        if _GLOB.search(str(source_file.path)):
            raise BaswareExtractError(
                f"Basware extract {extract.id}: the landing path {source_file.path} holds a "
                "glob character (* ? [ ] { }), which DuckDB's readers would expand; use a "
                "P2P_DATA_DIR without them"
            )
        try:
            source_file.file_format  # noqa: B018 - raises for a format we cannot read
        except ValueError as exc:
            raise BaswareFileError(extract.id, source_file.file_name, str(exc)) from exc
    if extract.file_count is not None and extract.file_count != len(files):
        raise BaswareExtractError(
            f"Basware extract {extract.id}: announced {extract.file_count} files, "
            f"listed {len(files)}"
        )
    by_table: dict[str, list[SourceFile]] = {}
    for source_file in files:
        by_table.setdefault(source_file.table_name, []).append(source_file)
    wanted = sorted(set(tables) | set(by_table), key=table_order)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {CURRENT_SCHEMA}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA}")
    ensure_registry(con)
    results: dict[str, TableLoad] = {}
    with transaction(con):
        if source is not None:
            sources.claim(con, source)
        # Rows of this extract exist only if it was committed before (the registry commits with
        # them): a first load skips looking for them in the tables it delivered nothing for.
        loaded_before = bool(
            _scalar(
                con,
                f"SELECT count(*) FROM {CURRENT_SCHEMA}.extracts WHERE extract_id = ?",
                [extract.id],
            )
        )
        catalog = _catalog(con)
        for table in wanted:
            results[table] = _load_table(
                con,
                extract,
                table,
                by_table.get(table, []),
                definitions.get(table, {}),
                loaded_at,
                catalog,
                loaded_before=loaded_before,
            )
        record_extract(con, extract, results, loaded_at)
        if before_commit is not None:
            before_commit()
    return results


def _load_table(
    con: duckdb.DuckDBPyConnection,
    extract: ExtractInfo,
    table: str,
    files: list[SourceFile],
    definition: Mapping[str, str],
    loaded_at: datetime,
    catalog: Catalog,
    *,
    loaded_before: bool = True,
) -> TableLoad:
    result = TableLoad(table=table, files=[f.file_name for f in files])
    delivered = delivered_columns(con, extract, table, files) if files else []
    target = {name: duckdb_type(name, oracle) for name, oracle in definition.items()}
    target.setdefault(KEY_COLUMN, "VARCHAR")
    for name in delivered:
        target.setdefault(name, duckdb_type(name, None))
    if files:
        result.new_columns = [c for c in delivered if c not in definition and c != KEY_COLUMN]
        result.missing_columns = [c for c in definition if c not in delivered]
        stage(con, extract, files, delivered, target)
        validate(con, extract, files, delivered, target)

    name = warehouse_table(table)
    columns = {**target, **LINEAGE_COLUMNS}
    for schema in (HISTORY_SCHEMA, CURRENT_SCHEMA):
        _ensure_table(con, schema, name, columns, extract, catalog)
    history = f"{HISTORY_SCHEMA}.{quote_ident(name)}"
    current = f"{CURRENT_SCHEMA}.{quote_ident(name)}"
    key = quote_ident(KEY_COLUMN)

    # Ids whose current row came from an earlier load of this same extract: a re-delivery may
    # have dropped them, and then an older version from history becomes current again.
    previous = (
        _scalar(con, f"SELECT count(*) FROM {current} WHERE _extract_id = ?", [extract.id])
        if loaded_before
        else 0
    )
    if not files and not previous:
        # Nothing delivered now and nothing to take back: only a possible earlier load's history.
        if loaded_before:
            con.execute(f"DELETE FROM {history} WHERE _extract_id = ?", [extract.id])
        result.current_rows = _scalar(con, f"SELECT count(*) FROM {current}")
        result.history_rows = _scalar(con, f"SELECT count(*) FROM {history}")
        result.columns = dict(catalog[(CURRENT_SCHEMA, name)])
        return result
    if previous:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _previous AS "
            f"SELECT {key} FROM {current} WHERE _extract_id = ?",
            [extract.id],
        )
    if loaded_before:
        con.execute(f"DELETE FROM {history} WHERE _extract_id = ?", [extract.id])
    # The current row of an id is the latest of its versions; `current` already holds the latest
    # of every other extract, so a delivered row only has to beat that one (cost ~ the extract).
    newer_or_same = "(_extract_date < ? OR (_extract_date = ? AND _extract_id <= ?))"
    order = [extract.extract_date, extract.extract_date, extract.id]
    if files:
        rows = (
            f"SELECT {', '.join(quote_ident(c) for c in delivered)}, ? AS _extract_id, "
            f"CAST(? AS TIMESTAMP) AS _extract_date, _files.file_name AS _file_name, "
            f"CAST(? AS TIMESTAMP) AS _loaded_at "
            f"FROM _stage JOIN _files ON _files.path = _stage.{SOURCE_COLUMN}"
        )
        lineage = [extract.id, extract.extract_date, loaded_at]
        con.execute(f"INSERT INTO {history} BY NAME {rows}", lineage)
        result.records = _scalar(con, "SELECT count(*) FROM _stage")
        duplicated = result.records - _scalar(con, f"SELECT count(DISTINCT {key}) FROM _stage")
        con.execute(
            f"DELETE FROM {current} WHERE {newer_or_same} AND {key} IN (SELECT {key} FROM _stage)",
            order,
        )
    if loaded_before:
        con.execute(f"DELETE FROM {current} WHERE _extract_id = ?", [extract.id])
    if files:
        # Rows of these ids still in `current` are newer than this extract's (a later extract
        # loaded first); everything else comes from the stage. Looking them up through the stage
        # keeps the cost to the extract's size (an anti-join with `current` itself would hash
        # the whole table). The window is only paid for when the extract repeats an id.
        newer = (
            f"WHERE {key} NOT IN (SELECT {key} FROM {current} "
            f"WHERE {key} IN (SELECT {key} FROM _stage))"
        )
        if not _scalar(con, f"SELECT count(*) FROM {current}"):
            newer = ""
        latest_file = (
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _file_name DESC) = 1"
            if duplicated
            else ""
        )
        con.execute(
            f"INSERT INTO {current} BY NAME SELECT * FROM ({rows}) {newer} {latest_file}", lineage
        )
        con.execute("DROP TABLE _stage")
        con.execute("DROP TABLE _files")
    if previous:
        con.execute(
            f"INSERT INTO {current} BY NAME SELECT * FROM {history} "
            f"WHERE {key} IN (SELECT {key} FROM _previous) "
            f"AND {key} NOT IN (SELECT {key} FROM {current}) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} "
            f"ORDER BY _extract_date DESC, _extract_id DESC, _file_name DESC) = 1"
        )
        con.execute("DROP TABLE _previous")
    result.current_rows = _scalar(con, f"SELECT count(*) FROM {current}")
    result.history_rows = _scalar(con, f"SELECT count(*) FROM {history}")
    result.columns = dict(catalog[(CURRENT_SCHEMA, name)])
    return result


def _ensure_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    columns: Mapping[str, str],
    extract: ExtractInfo,
    catalog: Catalog,
) -> None:
    """Create the table, or add the columns a later extract brought; a changed type is an error.
    `catalog` follows every change made here."""
    existing = catalog.get((schema, name), {})
    qualified = f"{schema}.{quote_ident(name)}"
    if not existing:
        spec = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE {qualified} ({spec})")
        catalog.update(_catalog(con, (schema, name)))
        return
    changed = False
    for column, data_type in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {qualified} ADD COLUMN {quote_ident(column)} {data_type}")
            changed = True
        elif widens(existing[column], data_type):
            # A warehouse from before Oracle DATEs kept their time of day: lossless widening.
            con.execute(
                f"ALTER TABLE {qualified} ALTER COLUMN {quote_ident(column)} TYPE {data_type}"
            )
            changed = True
        elif existing[column] != data_type:
            raise BaswareExtractError(
                f"Basware extract {extract.id}: {qualified}.{column} is {existing[column]} in the "
                f"warehouse but the table definition now says {data_type}"
            )
    if changed:
        catalog.update(_catalog(con, (schema, name)))


def _catalog(con: duckdb.DuckDBPyConnection, only: tuple[str, str] | None = None) -> Catalog:
    """Every table of both schemas (or only `(schema, table)`) with its columns."""
    catalog: Catalog = {}
    where, params = "schema_name IN (?, ?)", [CURRENT_SCHEMA, HISTORY_SCHEMA]
    if only is not None:
        where, params = "schema_name = ? AND table_name = ?", list(only)
    rows = con.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        f"WHERE database_name = current_database() AND {where} "
        "ORDER BY schema_name, table_name, column_index",
        params,
    ).fetchall()
    for schema, table, column, data_type in rows:
        catalog.setdefault((schema, table), {})[column] = data_type
    return catalog


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row else 0
