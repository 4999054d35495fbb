"""The specification endpoints: the table definition and its change log, as they look under the
current faults (schema drift, tables Basware added).

A table added by `add_tables` is in the definition at once (Basware publishes the specification
before the first extract that carries the table) and gets a change log version of its own.
"""

from p2p_assets.sandbox.basware.config import BaswareFaults
from p2p_assets.sandbox.basware.schema import Column, base_columns, table_columns
from p2p_assets.sandbox.basware.tables import tier_tables


def specified_tables(tier: str, faults: BaswareFaults) -> tuple[str, ...]:
    """The tier's tables, then the added ones in the order Basware added them."""
    added = sorted(faults.add_tables.items(), key=lambda item: (item[1], item[0]))
    return tier_tables(tier) + tuple(name for name, _ in added)


def _example(column: Column, dates_with_time: bool) -> str:
    if column.kind == "date" and dates_with_time and "," not in column.example:
        return f"{column.example}, 00:00:00"
    return column.example


def table_definition(tier: str, faults: BaswareFaults, dates_with_time: bool) -> list[dict]:
    """The body of GET /v1/dataExtracts/specification/tableDefinition (drift included)."""
    drifted = bool(faults.add_columns or faults.drop_columns)
    index = max(faults.drift_from_extract, 0) if drifted else 0
    return [
        {
            "Table name": table,
            "Columns": [
                {
                    "Column name": c.name,
                    "Data Type": c.oracle_type,
                    "Field definition": c.definition,
                    "Example value": _example(c, dates_with_time),
                }
                for c in table_columns(table, faults if drifted else None, index)
            ],
        }
        for table in specified_tables(tier, faults)
    ]


def change_log(tier: str, faults: BaswareFaults) -> list[dict]:
    """The body of .../tableDefinition/changeLog: the first version, one version per added
    table, then any column drift."""
    entries: list[dict] = [_version(0, added=list(tier_tables(tier)))]
    tables = specified_tables(tier, faults)
    for table in tables[len(tier_tables(tier)) :]:
        entries.append(_version(len(entries), added=[table]))
    changes = {}
    for table in tables:
        names = {c.name for c in base_columns(table)}
        added = [c for c in faults.add_columns.get(table, []) if c not in names]
        removed = [c for c in faults.drop_columns.get(table, []) if c in names]
        if added or removed:
            changes[table] = {"Added columns": added, "Removed columns": removed}
    if changes:
        entries.append(_version(len(entries), changes=changes))
    return entries


def _version(number: int, added: list[str] | None = None, changes: dict | None = None) -> dict:
    return {
        "Version": f"1.{number}",
        "Added tables": added or [],
        "Removed tables": [],
        "Column changes": changes or {},
    }
