"""Write-back to Boss Insights: Basware suppliers as CDM vendors, Basware invoices as CDM payable
invoices, and the push webhooks that confirm them.

Materialising `boss_insights/vendors` or `boss_insights/payable_invoices` runs its query in
`queries/`, converts each row with the field mapping below (validated before anything is sent),
plans the outbox and writes each new or changed record, claiming it in the send journal before
the call and recording `sent` (with Boss Insights' `X-Sync-ID`) after. Boss Insights pushes each
write on to the connected applications and reports the outcome by webhook, echoing our
`X-Tracking-ID`; `boss_insights/sync_events` folds the stored webhooks into the warehouse and
confirms (or fails) the outbox rows they name, including those a crashed run left unanswered.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.boss_insights.resources import BossInsightsResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.warehouse.writeback import (
    claim_target,
    outbox_metadata,
    rejections_check,
)
from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.boss_insights.client import (
    BossInsightsError,
    BossInsightsRejectedError,
    BossInsightsUncertainError,
)
from p2p_assets.lib.boss_insights.records import CdmField, Kind, to_record
from p2p_assets.lib.webhooks.receiver import EventStore
from p2p_assets.lib.writeback import outbox
from p2p_assets.lib.writeback.journal import Journal

QUERIES = Path(__file__).parent / "queries"
GROUP = "writeback"


@dataclass(frozen=True)
class CdmTarget:
    name: str  # the asset and query name
    obj: str  # the CDM object
    fields: tuple[CdmField, ...]
    deps: tuple[dg.AssetKey, ...]
    description: str

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["boss_insights", self.name])

    @property
    def target(self) -> str:
        return f"{events.TARGET_PREFIX}{self.obj}"


def _text(name: str, required: bool = False) -> CdmField:
    return CdmField(name, Kind.TEXT, name, required=required)


VENDORS = CdmTarget(
    "vendors",
    "vendor",
    (
        _text("external_id", required=True),
        _text("code"),
        _text("name", required=True),
        _text("tax_number"),
        _text("country"),
        _text("city"),
        _text("postal_code"),
        CdmField("currency", Kind.CURRENCY, "currency"),
        CdmField("payment_terms_days", Kind.INTEGER, "payment_terms_days"),
        CdmField("active", Kind.BOOLEAN, "active"),
    ),
    (dg.AssetKey(["basware", "adm_supplier"]),),
    "Basware suppliers (`basware.adm_supplier`) written to the Boss Insights Common Data Model "
    "as vendors.",
)
PAYABLE_INVOICES = CdmTarget(
    "payable_invoices",
    "payable_invoice",
    (
        _text("external_id", required=True),
        _text("vendor_external_id", required=True),
        _text("number", required=True),
        CdmField("issue_date", Kind.DATE, "issue_date"),
        CdmField("due_date", Kind.DATE, "due_date"),
        CdmField("currency", Kind.CURRENCY, "currency", required=True),
        CdmField("subtotal", Kind.MINOR_UNITS, "subtotal", currency_column="currency"),
        CdmField("tax", Kind.MINOR_UNITS, "tax", currency_column="currency"),
        CdmField("total", Kind.MINOR_UNITS, "total", required=True, currency_column="currency"),
        _text("status"),
        CdmField("paid_date", Kind.DATE, "paid_date"),
    ),
    (dg.AssetKey(["basware", "ia_invoice"]), VENDORS.key),
    "Basware invoices (`basware.ia_invoice`, not removed) written to the Boss Insights Common "
    "Data Model as payable invoices, amounts in minor units, after their vendors.",
)
TARGETS = (VENDORS, PAYABLE_INVOICES)


def build_writeback_asset(spec: CdmTarget) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key,
        deps=list(spec.deps),
        group_name=GROUP,
        kinds={"bossinsights", "duckdb"},
        pool="boss_insights_api",
        description=f"{spec.description} Only records new or changed since the last "
        "materialisation are sent (Boss Insights updates a record written again); every "
        f"record's state is in `writeback.outbox` (target `{spec.target}`), confirmed when its "
        f"push webhook arrives. Query: `p2p_assets/defs/boss_insights/queries/{spec.name}.sql`.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        boss_insights: BossInsightsResource,
        warehouse: DuckDBWarehouse,
    ) -> dg.MaterializeResult:
        path = boss_insights.write_path(spec.obj)  # a missing path fails before anything else
        with warehouse.connect(read_only=True) as con:
            rows = con.sql((QUERIES / f"{spec.name}.sql").read_text()).to_arrow_table().to_pylist()
        candidates = []
        for row in rows:
            record, errors = to_record(spec.fields, row)
            candidates.append(
                outbox.Candidate(
                    str(row["record_key"]), record, outbox.payload_hash(record), errors
                )  # fmt: skip
            )
        with warehouse.journal() as journal:
            with warehouse.connect() as con:
                claim_target(con, boss_insights.source())
                outbox.plan(con, spec.target, candidates, create_only=False, journal=journal)
                queue = outbox.outgoing(con, spec.target)
            try:
                sent = _send(context, spec, path, boss_insights, journal, queue)
            finally:  # even when the run stops: what was sent is recorded now
                with warehouse.connect() as con:
                    outbox.record_journal(con, journal)
        with warehouse.connect() as con:
            confirmed, failed = events.reconcile(con)  # webhooks folded while we were sending
            metadata = outbox_metadata(con, spec.target)
        return dg.MaterializeResult(
            metadata={
                "records_in_query": len(rows),
                "sent_now": sent,
                "write_path": path,
                "confirmed_by_earlier_webhooks": confirmed,
                "push_failures_from_earlier_webhooks": failed,
                **metadata,
            }
        )

    return _asset


def _send(
    context: dg.AssetExecutionContext,
    spec: CdmTarget,
    path: str,
    boss_insights: BossInsightsResource,
    journal: Journal,
    queue: list[outbox.Outgoing],
) -> int:
    with boss_insights.get_client() as client:

        def write(item: outbox.Outgoing) -> outbox.Outcome:
            try:
                written = client.write(path, item.payload, item.tracking_id)
            except BossInsightsRejectedError as exc:
                return outbox.Outcome("rejected", error=str(exc), field_errors=exc.field_errors)
            except BossInsightsUncertainError as exc:  # its webhook, if any, will tell
                return outbox.Outcome("uncertain", error=str(exc))
            except BossInsightsError as exc:  # not written (refused credentials, unreachable)
                raise outbox.StopSending(
                    f"Boss Insights write-back of {spec.name} stopped: {exc}"
                ) from exc
            remote = written.body.get("id") if isinstance(written.body, dict) else None
            remote_id = str(remote) if remote is not None else None
            return outbox.Outcome("sent", sync_id=written.sync_id, remote_id=remote_id)

        try:
            sent = outbox.send_pending(journal, spec.target, queue, write)
        except outbox.StopSending as exc:
            raise dg.Failure(str(exc)) from exc
    context.log.info("Boss Insights: %d %s record(s) written", sent, spec.obj)
    return sent


boss_insights_vendors = build_writeback_asset(VENDORS)
boss_insights_payable_invoices = build_writeback_asset(PAYABLE_INVOICES)
vendors_not_rejected = rejections_check(boss_insights_vendors, VENDORS.target, "Boss Insights")
payable_invoices_not_rejected = rejections_check(
    boss_insights_payable_invoices, PAYABLE_INVOICES.target, "Boss Insights"
)


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


boss_insights_writeback_job = dg.define_asset_job(
    name="boss_insights_writeback_job",
    description="Write the vendors, then the payable invoices, that are new or changed since the "
    "last run to Boss Insights.",
    selection=dg.AssetSelection.assets(boss_insights_vendors, boss_insights_payable_invoices),
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
