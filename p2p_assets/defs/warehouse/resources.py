"""The DuckDB warehouse as a Dagster resource: configuration only, connections from lib/.

The pipeline reads and writes its private working file; users query `P2P_WAREHOUSE`, the snapshot
`lib/warehouse/snapshots.py` publishes from it (the `warehouse/published` asset).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from p2p_assets import settings
from p2p_assets.lib.warehouse import snapshots
from p2p_assets.lib.warehouse.connection import connect
from p2p_assets.lib.writeback.journal import Journal, journal_path


class DuckDBWarehouse(dg.ConfigurableResource):
    """The DuckDB warehouse every vendor loads into. Writers run in the `duckdb` pool (limit 1)
    and write the working file; `P2P_WAREHOUSE` is its published snapshot."""

    path: str | None = Field(
        default=None,
        description="Path of the published DuckDB file users query; unset means P2P_WAREHOUSE "
        "(default data/warehouse.duckdb), read when a connection opens, not when definitions "
        "load. The pipeline's working file is beside it, in `<path>.work/`.",
    )

    @property
    def file(self) -> Path:
        return Path(self.path) if self.path else settings.warehouse_path()

    @property
    def layout(self) -> snapshots.Layout:
        return snapshots.layout(self.file)

    @contextmanager
    def journal(self) -> Iterator[Journal]:
        """The write-back send journal beside the warehouse file (see lib/writeback/journal.py)."""
        with Journal(journal_path(self.file)) as journal:
            yield journal

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The pipeline's working file (never the published snapshot users hold open)."""
        path = snapshots.ensure_working(self.layout)
        if read_only and not path.exists():
            read_only = False  # a brand-new warehouse cannot be opened read-only
        with connect(path, read_only=read_only) as con:
            yield con
