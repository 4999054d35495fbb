"""Basware's table definition as an asset: its own description of every column it delivers, and
the change log of that specification (new tables and columns are announced there first)."""

import json
from dataclasses import dataclass

import dagster as dg
import duckdb

from p2p_assets.defs.basware.assets import KINDS
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.defs.basware.tables import remember_tables
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import transaction


@dataclass(frozen=True)
class TableDefinition:
    """What Basware answered: one row per column of every table, and the change log."""

    tables: list[str]
    rows: list[list[object]]
    changes: list[dict]
    source: sources.Source  # where it came from, as the warehouse records it


@dg.op(
    name="basware_table_definition_fetch",
    pool="basware_api",
    description="Fetch the table definition and its change log from Basware.",
)
def basware_table_definition_fetch(basware: BaswareResource) -> TableDefinition:
    with basware.get_client() as client:
        tables = client.table_definition()
        changes = client.table_definition_changelog()
    rows = [
        [t.table_name, position, c.name, c.data_type, c.definition, c.example]
        for t in tables
        for position, c in enumerate(t.columns, start=1)
    ]
    return TableDefinition([t.table_name for t in tables], rows, changes, basware.source())


@dg.op(
    name="basware_table_definition_write",
    pool="duckdb",
    description="Replace basware.table_definition and basware.table_definition_changes.",
)
def basware_table_definition_write(
    context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, definition: TableDefinition
) -> None:
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS basware")
        with transaction(con):
            sources.claim(con, definition.source)
            _replace_table_definition(con, definition.rows, definition.changes)
    remember_tables(set(definition.tables))
    context.add_output_metadata(
        {
            "tables": dg.MetadataValue.json(sorted(definition.tables)),
            "columns": len(definition.rows),
            "changes": len(definition.changes),
        }
    )


@dg.graph_asset(
    key=dg.AssetKey(["basware", "table_definition"]),
    group_name="basware",
    kinds=KINDS,
    # Materialised when missing (the UI's path gets what `p2p-assets sync` loads; a failed try
    # waits for a person, not for the next tick) and then daily: Basware announces new tables
    # and columns there first.
    automation_condition=(
        dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.execution_failed()
    ).with_label("missing, not tried yet")
    | dg.AutomationCondition.on_cron("0 5 * * *"),
)
def basware_table_definition():
    """Basware's own description of every column it delivers, and the change log of that
    specification, in `basware.table_definition` and `basware.table_definition_changes`.

    Two steps, so the Basware calls hold no warehouse slot: fetch (pool `basware_api`), then
    write (pool `duckdb`)."""
    return basware_table_definition_write(basware_table_definition_fetch())


def _replace_table_definition(
    con: duckdb.DuckDBPyConnection, rows: list[list[object]], changes: list[dict]
) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE basware.table_definition (table_name VARCHAR, "
        "position INTEGER, column_name VARCHAR, data_type VARCHAR, field_definition VARCHAR, "
        "example_value VARCHAR)"
    )
    if rows:
        con.executemany("INSERT INTO basware.table_definition VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE OR REPLACE TABLE basware.table_definition_changes (position INTEGER, change JSON)"
    )
    if changes:
        con.executemany(
            "INSERT INTO basware.table_definition_changes VALUES (?, ?)",
            [[i, json.dumps(c)] for i, c in enumerate(changes, start=1)],
        )


basware_table_definition_job = dg.define_asset_job(
    name="basware_table_definition_job",
    description="Refresh Basware's table definition and its change log.",
    selection=dg.AssetSelection.assets(["basware", "table_definition"]),
)
