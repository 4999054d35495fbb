"""Boss Insights push webhooks folded into the warehouse: `boss_insights/sync_events`, its job
and the sensor that requests it when the webhook receiver has stored new events. No Boss Insights
call: the events come from our own receiver's store, so the asset is one step in pool `duckdb`."""

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.boss_insights.assets import GROUP, TARGETS
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.webhooks.receiver import EventStore
from p2p_assets.lib.writeback import outbox


@dg.asset(
    key=dg.AssetKey(["boss_insights", "sync_events"]),
    group_name=GROUP,
    kinds={"bossinsights", "duckdb"},
    pool="duckdb",
    description="Boss Insights webhook events (`boss_insights.sync_events`), folded from the "
    "webhook receiver's store (`p2p-assets webhooks serve`, data/webhooks/events.sqlite3) once "
    "each. Every event echoing a tracking id confirms that write-back record in "
    "`writeback.outbox` (or marks it failed when its push failed, so the next materialisation "
    "sends it again). Materialised by `boss_insights_webhook_sensor` when events arrive.",
)
def boss_insights_sync_events(
    context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    store = EventStore(settings.webhook_store())
    totals = {"events": 0, "confirmed": 0, "failed": 0}
    with warehouse.connect() as con:
        while batch := store.since(events.last_folded(con)):
            folded = events.fold(con, batch)
            totals = {"events": totals["events"] + folded.events,
                      "confirmed": totals["confirmed"] + folded.confirmed,
                      "failed": totals["failed"] + folded.failed}  # fmt: skip
        stored = con.execute(f"SELECT count(*), max(seq) FROM {events.TABLE}").fetchone()
        per_target = {spec.name: outbox.summary(con, spec.target) for spec in TARGETS}
    context.log.info(
        "Boss Insights webhooks: %d event(s) folded, %d record(s) confirmed, %d failed",
        totals["events"], totals["confirmed"], totals["failed"],
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "events_folded_now": totals["events"],
            "confirmed_now": totals["confirmed"],
            "push_failures_now": totals["failed"],
            "events_total": int(stored[0]) if stored else 0,
            "last_event_seq": int(stored[1] or 0) if stored else 0,
            **{
                f"{name}_{status}": per_target[name][status]
                for name in per_target
                for status in ("sent", "confirmed", "uncertain", "failed")
            },
        }  # fmt: skip
    )


boss_insights_sync_events_job = dg.define_asset_job(
    name="boss_insights_sync_events_job",
    description="Fold the stored Boss Insights webhooks into the warehouse and confirm the outbox.",
    selection=dg.AssetSelection.assets(boss_insights_sync_events),
)


@dg.sensor(
    name="boss_insights_webhook_sensor",
    job=boss_insights_sync_events_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the webhook receiver's event store (never the warehouse) and requests a "
    "run of `boss_insights/sync_events` when new events have arrived.",
)
def boss_insights_webhook_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    last = EventStore(settings.webhook_store()).last_seq()
    seen = int(context.cursor or 0)
    if last <= seen:
        return dg.SensorResult(skip_reason="no new webhook event", cursor=str(seen))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"webhook-events-{last}")], cursor=str(last)
    )
