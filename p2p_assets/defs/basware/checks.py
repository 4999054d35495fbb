"""Checks on the current state of the Basware tables: keys are unique, references resolve."""

import dagster as dg

from p2p_assets.defs.basware.assets import table_key
from p2p_assets.defs.basware.tables import known_tables
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.basware.loader import warehouse_table
from p2p_assets.lib.basware.tables import (
    CURRENT_SCHEMA,
    KEY_COLUMN,
    REFERENCES,
    Reference,
)
from p2p_assets.lib.warehouse.connection import quote_ident, table_columns

SAMPLE = 5


def _unique_ids_check(table: str) -> dg.AssetChecksDefinition:
    name = warehouse_table(table)

    @dg.asset_check(
        asset=table_key(table),
        name="ids_are_unique",
        description=f"Every {KEY_COLUMN} occurs once in basware.{name} (the current state).",
        pool="duckdb",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_columns(con, CURRENT_SCHEMA, name):
                return dg.AssetCheckResult(passed=True, metadata={"note": "table not created yet"})
            key = quote_ident(KEY_COLUMN)
            duplicates = con.execute(
                f"SELECT {key}, count(*) AS n FROM {CURRENT_SCHEMA}.{quote_ident(name)} "
                f"GROUP BY {key} HAVING count(*) > 1 ORDER BY n DESC, {key} LIMIT ?",
                [SAMPLE],
            ).fetchall()
        return dg.AssetCheckResult(
            passed=not duplicates,
            metadata={"duplicated_ids": dg.MetadataValue.json([d[0] for d in duplicates])},
        )

    return _check


def _reference_check(reference: Reference) -> dg.AssetChecksDefinition:
    child, parent = warehouse_table(reference.child), warehouse_table(reference.parent)

    @dg.asset_check(
        asset=table_key(reference.child),
        name=f"{reference.column.lower()}_references_{parent}",
        description=f"Every non-null {reference.column} in basware.{child} is an ID in "
        f"basware.{parent}.",
        pool="duckdb",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            child_columns = table_columns(con, CURRENT_SCHEMA, child)
            if reference.column not in child_columns:
                return dg.AssetCheckResult(passed=True, metadata={"note": "no such column yet"})
            column = quote_ident(reference.column)
            parent_table = f"{CURRENT_SCHEMA}.{quote_ident(parent)}"
            parents = (
                f"SELECT {quote_ident(KEY_COLUMN)} FROM {parent_table}"
                if table_columns(con, CURRENT_SCHEMA, parent)
                else "SELECT NULL::VARCHAR WHERE false"
            )
            orphans = con.execute(
                f"SELECT count(*), list({column} ORDER BY {column})[1:{SAMPLE}] "
                f"FROM {CURRENT_SCHEMA}.{quote_ident(child)} "
                f"WHERE {column} IS NOT NULL AND {column} NOT IN ({parents})"
            ).fetchone()
        count, sample = orphans if orphans else (0, [])
        return dg.AssetCheckResult(
            passed=count == 0,
            metadata={"orphan_rows": count, "orphan_values": dg.MetadataValue.json(sample or [])},
        )

    return _check


basware_checks = [_unique_ids_check(t) for t in known_tables()] + [
    _reference_check(r) for r in REFERENCES
]
