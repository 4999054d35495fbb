"""`warehouse/published`: the DuckDB file users query, a snapshot of the pipeline's working file.

Every run writes the working file (pool `duckdb`); this asset copies its committed state to
`P2P_WAREHOUSE` and renames it into place (`lib/warehouse/snapshots.py`), so a user's open session
never delays a run and a run never breaks a session. `warehouse_publish_sensor` requests a publish
when something new is committed and the last one is old enough (`snapshots.due`); `p2p-assets
sync` publishes between its runs on the same rule and always at its end.
"""

import time
from datetime import datetime

import dagster as dg

from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import snapshots

PUBLISHED = dg.AssetKey(["warehouse", "published"])
JOB = "warehouse_publish_job"
# Publishing goes ahead of queued loads: readers should not wait for a whole backfill.
PRIORITY_TAGS = {"dagster/priority": "10"}


@dg.asset(
    key=PUBLISHED,
    group_name="warehouse",
    kinds={"duckdb"},
    pool="duckdb",
    output_required=False,
    description="The warehouse you query: `P2P_WAREHOUSE` (default data/warehouse.duckdb), a "
    "read-only copy of everything the pipeline has committed, replaced whole within a minute of "
    "each run (and at the end of every `p2p-assets sync`). Open it read-only with any DuckDB "
    "client or `p2p-assets sql`; an open session keeps the copy it opened and never delays a run.",
)
def warehouse_published(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse):
    where = warehouse.layout
    try:
        state = snapshots.publish(where)
    except snapshots.PublishError as exc:
        raise dg.Failure(description=str(exc)) from exc
    if state is None:
        context.log.info(f"{where.published} already holds everything committed; not copied")
        return
    yield dg.MaterializeResult(metadata=published_metadata(where, state))


def published_metadata(where: snapshots.Layout, state: snapshots.Published) -> dict[str, object]:
    return {
        "published_at": dg.MetadataValue.timestamp(state.when),
        "size_mb": round(state.bytes / 1e6, 1),
        "publish_seconds": state.seconds,
        "path": dg.MetadataValue.path(str(where.published)),
    }


warehouse_publish_job = dg.define_asset_job(
    name=JOB,
    description="Publish what the pipeline committed as the warehouse users query.",
    selection=dg.AssetSelection.assets(PUBLISHED),
    tags=PRIORITY_TAGS,
    executor_def=dg.in_process_executor,
)

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    name="warehouse_publish_sensor",
    job=warehouse_publish_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 10 s: when runs have committed something the published warehouse does not "
    "hold yet, request a publish (at most every P2P_PUBLISH_INTERVAL_SECONDS, default 30 s, and "
    "never more than a tenth of the time).",
)
def warehouse_publish_sensor(context: dg.SensorEvaluationContext):
    where = DuckDBWarehouse().layout
    when = snapshots.next_due(where)
    if when is None:
        return dg.SkipReason(f"{where.published} holds everything committed")
    if when > datetime.now(when.tzinfo):
        return dg.SkipReason(f"new data committed; next publish at {when:%H:%M:%S} UTC")
    active = context.instance.get_run_records(
        dg.RunsFilter(job_name=JOB, statuses=_ACTIVE), limit=1
    )
    if active:
        return dg.SkipReason(f"publish run {active[0].dagster_run.run_id} is queued or running")
    # One run per committed state; a publish that failed (a full disk) is tried again every five
    # minutes until it succeeds or something new is committed.
    retry = int(time.time() // 300)
    return dg.RunRequest(run_key=f"publish {snapshots.working_version(where)} {retry}")
