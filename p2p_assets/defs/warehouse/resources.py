"""The DuckDB warehouse as a Dagster resource: configuration only, connections from lib/."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from p2p_assets import settings
from p2p_assets.lib.warehouse.connection import connect


class DuckDBWarehouse(dg.ConfigurableResource):
    """The DuckDB file every vendor loads into. Writers run in the `duckdb` pool (limit 1)."""

    path: str = Field(
        default_factory=lambda: str(settings.warehouse_path()),
        description="Path of the DuckDB file (P2P_WAREHOUSE, default data/warehouse.duckdb).",
    )

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.path)
        if read_only and not path.exists():
            read_only = False  # a brand-new warehouse cannot be opened read-only
        with connect(path, read_only=read_only) as con:
            yield con
