"""Basware's table definition as an asset: its own description of every column it delivers, and
the change log of that specification (new tables and columns are announced there first)."""

import json

import dagster as dg
import duckdb

from p2p_assets.defs.basware.assets import KINDS
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.defs.basware.tables import remember_tables
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import transaction


@dg.asset(
    key=dg.AssetKey(["basware", "table_definition"]),
    group_name="basware",
    kinds=KINDS,
    pool="duckdb",
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
def basware_table_definition(
    basware: BaswareResource, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Basware's own description of every column it delivers, and the change log of that
    specification, in `basware.table_definition` and `basware.table_definition_changes`."""
    with basware.get_client() as client:
        tables = client.table_definition()
        changes = client.table_definition_changelog()
    rows = [
        [t.table_name, position, c.name, c.data_type, c.definition, c.example]
        for t in tables
        for position, c in enumerate(t.columns, start=1)
    ]
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS basware")
        with transaction(con):
            sources.claim(con, basware.source())
            _replace_table_definition(con, rows, changes)
    remember_tables({t.table_name for t in tables})
    return dg.MaterializeResult(
        metadata={
            "tables": dg.MetadataValue.json(sorted(t.table_name for t in tables)),
            "columns": len(rows),
            "changes": len(changes),
        }
    )


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
