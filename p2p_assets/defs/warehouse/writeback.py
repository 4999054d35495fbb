"""What every write-back asset shows about `writeback.outbox`: its counts per status as
materialisation metadata, and the asset check that fails when records were rejected."""

from typing import Any

import dagster as dg
import duckdb

from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import table_columns, transaction
from p2p_assets.lib.writeback import outbox

READS = ("basware",)
"""The vendors whose data the write-back targets send on."""


def claim_target(con: duckdb.DuckDBPyConnection, source: sources.Source) -> None:
    """Before anything is planned or sent: the target must be the one this warehouse's outbox
    was written for, and sandbox data never goes to a live target (nor live data to a sandbox)."""
    try:
        with transaction(con):
            sources.claim(con, source, reads=READS)
    except sources.MixedSourcesError as exc:
        raise dg.Failure(description=str(exc)) from exc


def outbox_metadata(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, Any]:
    counts = outbox.summary(con, target)
    return {
        **{f"outbox_{status}": n for status, n in counts.items()},
        "first_rejections": dg.MetadataValue.json(outbox.rejections(con, target)),
    }


def rejections_check(
    asset: dg.AssetsDefinition, target: str, vendor: str
) -> dg.AssetChecksDefinition:
    """`no_record_was_rejected` for `asset`: fails while any of its outbox rows is rejected."""

    @dg.asset_check(
        asset=asset,
        name="no_record_was_rejected",
        description=f"No record in the outbox (target `{target}`) was refused, by our "
        f"validation or by {vendor}; the first reasons are shown. Records still uncertain or "
        "failed are counted too.",
        pool="duckdb",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_columns(con, outbox.SCHEMA, "outbox"):
                return dg.AssetCheckResult(passed=True, metadata={"note": "nothing planned yet"})
            counts = outbox.summary(con, target)
            first = outbox.rejections(con, target)
        return dg.AssetCheckResult(
            passed=counts["rejected"] == 0,
            metadata={
                "rejected": counts["rejected"],
                "uncertain": counts["uncertain"],
                "failed": counts["failed"],
                "first_rejections": dg.MetadataValue.json(first),
            },
        )

    return _check
