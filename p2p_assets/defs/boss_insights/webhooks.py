"""Boss Insights push webhooks folded into the warehouse: `boss_insights/sync_events`, its job,
its checks and the sensor that requests it when the webhook receiver has stored new events. No
Boss Insights call: the events come from our own receiver's store, so the asset is one step in
pool `duckdb`, reading only configuration (where the webhooks carry what) off the resource."""

import dagster as dg
import duckdb

from p2p_assets import settings
from p2p_assets.defs.boss_insights.assets import (
    GROUP,
    TARGETS,
    boss_insights_payable_invoices,
    boss_insights_vendors,
)
from p2p_assets.defs.boss_insights.resources import BossInsightsResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.warehouse.connection import table_columns
from p2p_assets.lib.webhooks.receiver import EventStore
from p2p_assets.lib.writeback import outbox

UNSETTLED = ("push_failed", "unknown_outcome")


def stored_after(store: EventStore, seq: int) -> list[events.StoredEvent]:
    """The store's events after `seq`, with their request headers where the store keeps them."""
    after = getattr(store, "events_after", None)
    if after is None:  # a store that keeps no headers
        return [events.StoredEvent(*e) for e in store.since(seq)]
    return [
        events.StoredEvent(e.seq, e.request_id, e.received_at, e.body, e.headers)
        for e in after(seq)
    ]


@dg.asset(
    key=dg.AssetKey(["boss_insights", "sync_events"]),
    group_name=GROUP,
    kinds={"bossinsights", "duckdb"},
    pool="duckdb",
    description="Boss Insights webhook events (`boss_insights.sync_events`, one outcome per "
    "destination in `boss_insights.sync_event_outcomes`), folded from the webhook receiver's "
    "store (`p2p-assets webhooks serve`, data/webhooks/events.sqlite3) once each, read where "
    "the BOSS_INSIGHTS_WEBHOOK_* settings say; an event that cannot be read is kept with its "
    "`problem`. The events of a record's attempt settle it in `writeback.outbox`: `confirmed` "
    "only when every destination explicitly succeeded, `push_failed` when any failed, "
    "`unknown_outcome` otherwise. Materialised by `boss_insights_webhook_sensor`.",
)
def boss_insights_sync_events(
    context: dg.AssetExecutionContext,
    boss_insights: BossInsightsResource,
    warehouse: DuckDBWarehouse,
) -> dg.MaterializeResult:
    layout = boss_insights.webhook_layout()
    store = EventStore(settings.webhook_store())
    totals = {"events": 0, "confirmed": 0, "failed": 0, "unknown": 0, "problems": 0}
    with warehouse.connect() as con:
        first = True
        while (batch := stored_after(store, events.last_folded(con))) or first:
            folded = events.fold(con, batch, layout)  # also reads old events if layout changed
            first = False
            for name in totals:
                totals[name] += getattr(folded, name)
        stored = con.execute(f"SELECT count(*), max(seq) FROM {events.TABLE}").fetchone()
        per_target = {spec.name: outbox.summary(con, spec.target) for spec in TARGETS}
    context.log.info(
        "Boss Insights webhooks: %d event(s) folded (%d with a problem), %d record(s) "
        "confirmed, %d push(es) failed, %d outcome(s) unknown",
        totals["events"], totals["problems"], totals["confirmed"], totals["failed"],
        totals["unknown"],
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "events_folded_now": totals["events"],
            "events_with_a_problem_now": totals["problems"],
            "confirmed_now": totals["confirmed"],
            "push_failures_now": totals["failed"],
            "unknown_outcomes_now": totals["unknown"],
            "events_total": int(stored[0]) if stored else 0,
            "last_event_seq": int(stored[1] or 0) if stored else 0,
            **{
                f"{name}_{status}": per_target[name][status]
                for name in per_target
                for status in ("sent", "confirmed", "uncertain", "failed", *UNSETTLED)
            },
        }  # fmt: skip
    )


def _unsettled(con: duckdb.DuckDBPyConnection, target: str, where: str) -> list[dict]:
    rows = con.execute(
        f"SELECT record_key, status, last_error FROM {outbox.TABLE} WHERE target = ? AND {where} "
        "ORDER BY updated_at, record_key LIMIT 5",
        [target],
    ).fetchall()
    return [{"record": r[0], "status": r[1], "error": r[2]} for r in rows]


def _push_check(asset: dg.AssetsDefinition, target: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="no_push_failed_or_unknown",
        pool="duckdb",
        description=f"No record of `{target}` was refused by a connected application "
        "(`push_failed`) or answered with an outcome that is not a configured success "
        "(`unknown_outcome`); the first are shown with the vendor's message. They are in the "
        "CDM and are not sent again on their own.",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_columns(con, outbox.SCHEMA, "outbox"):
                return dg.AssetCheckResult(passed=True, metadata={"note": "nothing planned yet"})
            counts = outbox.summary(con, target)
            first = _unsettled(con, target, "status IN ('push_failed', 'unknown_outcome')")
        return dg.AssetCheckResult(
            passed=not any(counts[s] for s in UNSETTLED),
            metadata={**{s: counts[s] for s in UNSETTLED}, "first": dg.MetadataValue.json(first)},
        )

    return _check


def _changed_check(asset: dg.AssetsDefinition, target: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="no_change_left_unsent",
        pool="duckdb",
        description=f"No record of `{target}` changed after it was sent without being sent "
        "again: with BOSS_INSIGHTS_UPDATE unset (or a PUT by id whose CDM id is unknown) a "
        "changed record is only reported, never posted twice. A warning: the first are shown.",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_columns(con, outbox.SCHEMA, "outbox"):
                return dg.AssetCheckResult(passed=True, metadata={"note": "nothing planned yet"})
            changed = outbox.summary(con, target)["changed_since_sent"]
            first = _unsettled(con, target, "changed_since_sent")
        return dg.AssetCheckResult(
            passed=changed == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"changed_since_sent": changed, "first": dg.MetadataValue.json(first)},
        )

    return _check


vendors_pushed = _push_check(boss_insights_vendors, TARGETS[0].target)
payable_invoices_pushed = _push_check(boss_insights_payable_invoices, TARGETS[1].target)
vendors_unchanged = _changed_check(boss_insights_vendors, TARGETS[0].target)
payable_invoices_unchanged = _changed_check(boss_insights_payable_invoices, TARGETS[1].target)


boss_insights_sync_events_job = dg.define_asset_job(
    name="boss_insights_sync_events_job",
    description="Fold the stored Boss Insights webhooks into the warehouse, settle the outbox "
    "and check that no push failed or had an unknown outcome.",
    selection=dg.AssetSelection.assets(boss_insights_sync_events)
    | dg.AssetSelection.checks(vendors_pushed, payable_invoices_pushed),
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
