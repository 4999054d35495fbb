"""What a write-back asset sends: a view of the dbt project's `models/exports/` (DuckDB schema
`exports`), built as the asset `marts/<model>` like every model, read by the write-back's plan
step ordered by `record_key`.

A view reads the warehouse as it is when the plan runs, so a load never leaves a write-back
behind; it is only missing when the marts were never built. Then the plan fails saying so and how
to build it, before anything is planned or sent, instead of DuckDB's catalog error.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from p2p_assets.defs.marts.project import GROUP, PROJECT_DIR
from p2p_assets.lib.warehouse.connection import quote_ident, table_columns

SCHEMA = "exports"


@dataclass(frozen=True)
class Export:
    model: str  # the dbt model, and the view's name in schema `exports`

    @property
    def key(self) -> dg.AssetKey:
        """The model's asset, which the write-back asset depends on."""
        return dg.AssetKey([GROUP, self.model])

    @property
    def relation(self) -> str:
        return f"{SCHEMA}.{self.model}"

    @property
    def sql(self) -> Path:
        """The model's SQL file, where a user changes what is sent."""
        return PROJECT_DIR / "models" / SCHEMA / f"{self.model}.sql"

    @property
    def sql_name(self) -> str:
        """The SQL file as a user finds it: from the package folder when it is inside it."""
        parts = self.sql.parts
        return (
            "/".join(parts[parts.index("p2p_assets") :]) if "p2p_assets" in parts else str(self.sql)
        )


def _missing(export: Export, why: str) -> dg.Failure:
    return dg.Failure(
        description=f"{export.relation} {why}. It is the dbt model {export.sql_name}, the asset "
        f"{export.key.to_user_string()}: build it with `p2p-assets sync marts`, or materialise "
        f"{export.key.to_user_string()} in the Dagster UI, then run this again. Nothing was "
        "planned or sent."
    )


def columns(con: duckdb.DuckDBPyConnection, export: Export) -> list[str]:
    """The view's columns; fails when it is not in the warehouse."""
    found = table_columns(con, SCHEMA, export.model)
    if not found:
        raise _missing(export, "is not in the warehouse (the marts were never built)")
    return list(found)


def read(con: duckdb.DuckDBPyConnection, export: Export) -> list[dict[str, Any]]:
    """Every row of the view as a dict, ordered by `record_key`."""
    columns(con, export)
    relation = f"{quote_ident(SCHEMA)}.{quote_ident(export.model)}"
    try:
        table = con.sql(f"SELECT * FROM {relation} ORDER BY record_key").to_arrow_table()
    except (duckdb.CatalogException, duckdb.BinderException) as exc:  # its tables changed
        raise _missing(export, f"cannot be read: {exc}") from exc
    return table.to_pylist()
