"""Write-back to Boss Insights: Basware suppliers as CDM vendors, Basware invoices as CDM payable
invoices, and the push webhooks that confirm them.

Materialising `boss_insights/vendors` or `boss_insights/payable_invoices` runs its query in
`queries/`, converts each row with the field mapping below (validated before anything is sent),
plans the outbox and writes each new or changed record, claiming it in the send journal before
the call and recording `sent` (with Boss Insights' `X-Sync-ID`) after. Boss Insights pushes each
write on to the connected applications and reports the outcome by webhook, echoing our
`X-Tracking-ID`; `boss_insights/sync_events` (`webhooks.py`) folds the stored webhooks into the
warehouse and confirms (or fails) the outbox rows they name, including those a crashed run left
unanswered.

Each write-back asset is three steps (see `defs/warehouse/writeback.py`): plan (pool `duckdb`),
send (pool `boss_insights_api`, the send journal and Boss Insights only), record (pool `duckdb`).
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from p2p_assets.defs.boss_insights.resources import BossInsightsResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.warehouse.writeback import (
    Planned,
    Sent,
    outbox_metadata,
    plan_outbox,
    record_sent,
    rejections_check,
    send_queue,
)
from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.boss_insights.client import (
    BossInsightsClient,
    BossInsightsError,
    BossInsightsRejectedError,
    BossInsightsUncertainError,
)
from p2p_assets.lib.boss_insights.records import CdmField, Kind, to_record
from p2p_assets.lib.writeback import outbox

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


def _plan_op(spec: CdmTarget) -> dg.OpDefinition:
    @dg.op(
        name=f"boss_insights_{spec.name}_plan",
        ins={"after": dg.In(dg.Nothing)},  # the tables the query reads
        pool="duckdb",
        description=f"Run queries/{spec.name}.sql, validate each record and plan the outbox "
        "(the warehouse only).",
    )
    def plan(
        context: dg.OpExecutionContext,
        boss_insights: BossInsightsResource,
        warehouse: DuckDBWarehouse,
    ) -> Planned:
        path = boss_insights.write_path(spec.obj)  # a missing path fails before anything else
        boss_insights.send_concurrency()  # so does a wrong BOSS_INSIGHTS_CONCURRENCY
        with warehouse.journal() as journal, warehouse.connect() as con:
            rows = con.sql((QUERIES / f"{spec.name}.sql").read_text()).to_arrow_table().to_pylist()
            candidates = []
            for row in rows:
                record, errors = to_record(spec.fields, row)
                candidates.append(
                    outbox.Candidate(
                        str(row["record_key"]), record, outbox.payload_hash(record), errors
                    )  # fmt: skip
                )
            queue = plan_outbox(
                context, con, journal, spec.target, boss_insights.source(), candidates,
                create_only=False,
            )  # fmt: skip
        return Planned(context.run_id, queue, {"records_in_query": len(rows), "write_path": path})

    return plan


def _send_op(spec: CdmTarget) -> dg.OpDefinition:
    @dg.op(
        name=f"boss_insights_{spec.name}_send",
        pool="boss_insights_api",
        description=f"Write each planned {spec.obj} to Boss Insights (the send journal only, no "
        "DuckDB).",
    )
    def send(
        context: dg.OpExecutionContext,
        boss_insights: BossInsightsResource,
        warehouse: DuckDBWarehouse,
        planned: Planned,
    ) -> Sent:
        path = boss_insights.write_path(spec.obj)

        def write(client: BossInsightsClient, item: outbox.Outgoing) -> outbox.Outcome:
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

        with warehouse.journal() as journal:
            sent = send_queue(
                context, journal, spec.target, planned, boss_insights.get_client, write,
                concurrency=boss_insights.send_concurrency(),
            )  # fmt: skip
        if sent.accepted is not None:
            context.log.info("Boss Insights: %d %s record(s) written", sent.accepted, spec.obj)
        return sent

    return send


def _record_op(spec: CdmTarget) -> dg.OpDefinition:
    @dg.op(
        name=f"boss_insights_{spec.name}_record",
        pool="duckdb",
        description="Record what was sent in writeback.outbox and fold the webhooks that arrived "
        "meanwhile; fail the run if sending stopped.",
    )
    def record(
        context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, planned: Planned, sent: Sent
    ) -> None:
        with warehouse.journal() as journal, warehouse.connect() as con:
            record_sent(context, con, journal, spec.target, sent)
            settled = events.reconcile(con)  # webhooks folded while we were sending
            metadata = outbox_metadata(con, spec.target)
        context.add_output_metadata(
            {
                **planned.metadata,
                "sent_now": sent.accepted,
                "confirmed_by_earlier_webhooks": settled["confirmed"],
                "push_failures_from_earlier_webhooks": settled["push_failed"],
                "unknown_outcomes_from_earlier_webhooks": settled["unknown_outcome"],
                **metadata,
            }
        )

    return record


def build_writeback_asset(spec: CdmTarget) -> dg.AssetsDefinition:
    """Three steps, so the Boss Insights calls hold no warehouse slot: plan (pool `duckdb`),
    send (pool `boss_insights_api`), record (pool `duckdb`)."""
    plan, send, record = _plan_op(spec), _send_op(spec), _record_op(spec)

    @dg.graph_asset(
        key=spec.key,
        ins={
            f"reads_{i}": dg.AssetIn(key, dagster_type=dg.Nothing)
            for i, key in enumerate(spec.deps)
        },
        group_name=GROUP,
        kinds={"bossinsights", "duckdb"},
        description=f"{spec.description} Only records new or changed since the last "
        "materialisation are sent (Boss Insights updates a record written again); every "
        f"record's state is in `writeback.outbox` (target `{spec.target}`), confirmed when its "
        f"push webhook arrives. Query: `p2p_assets/defs/boss_insights/queries/{spec.name}.sql`. "
        "Three steps: plan and record in pool `duckdb`, the Boss Insights calls alone in pool "
        "`boss_insights_api`.",
    )
    def _asset(**reads):
        planned = plan(after=list(reads.values()))
        return record(planned, send(planned))

    return _asset


boss_insights_vendors = build_writeback_asset(VENDORS)
boss_insights_payable_invoices = build_writeback_asset(PAYABLE_INVOICES)
vendors_not_rejected = rejections_check(boss_insights_vendors, VENDORS.target, "Boss Insights")
payable_invoices_not_rejected = rejections_check(
    boss_insights_payable_invoices, PAYABLE_INVOICES.target, "Boss Insights"
)


boss_insights_writeback_job = dg.define_asset_job(
    name="boss_insights_writeback_job",
    description="Write the vendors, then the payable invoices, that are new or changed since the "
    "last run to Boss Insights.",
    selection=dg.AssetSelection.assets(boss_insights_vendors, boss_insights_payable_invoices),
)
