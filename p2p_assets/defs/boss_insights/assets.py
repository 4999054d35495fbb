"""Write-back to Boss Insights: Basware suppliers as CDM vendors, Basware invoices as CDM payable
invoices, and the push webhooks that confirm them.

Materialising `boss_insights/vendors` or `boss_insights/payable_invoices` reads its view
`exports.boss_insights_<name>` (the dbt model
`p2p_assets/dbt/models/exports/boss_insights_<name>.sql`, the asset `marts/boss_insights_<name>`
it depends on), converts each row with the CDM field mapping `queries/<name>.fields.toml` (which
a user edits; validated before anything is sent), plans the outbox and writes each new record
(and each changed one only when `BOSS_INSIGHTS_UPDATE` says how), claiming it in the send journal
before the call and recording `sent` (with Boss Insights' `X-Sync-ID` and the CDM's id) after.
Boss Insights pushes each write on to the connected applications and reports the outcome by
webhook, echoing our `X-Tracking-ID`; `boss_insights/sync_events` (`webhooks.py`) folds the stored
webhooks into the warehouse and settles the outbox rows they name (`confirmed`, `push_failed`,
`unknown_outcome`), including those a crashed run left unanswered.

Each write-back asset is three steps (see `defs/warehouse/writeback.py`): plan (pool `duckdb`),
send (pool `boss_insights_api`, the send journal and Boss Insights only), record (pool `duckdb`).
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from p2p_assets.defs.boss_insights.resources import BossInsightsResource
from p2p_assets.defs.warehouse import exports
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
    Written,
)
from p2p_assets.lib.boss_insights.layout import lookup
from p2p_assets.lib.boss_insights.mapping import MappingError, check_columns, load_fields
from p2p_assets.lib.boss_insights.records import to_record
from p2p_assets.lib.writeback import outbox

# The CDM field mappings, one per asset (the data they map is the export view).
MAPPINGS = Path(__file__).parent / "queries"
GROUP = "writeback"


@dataclass(frozen=True)
class CdmTarget:
    name: str  # the asset and mapping name
    obj: str  # the CDM object
    deps: tuple[dg.AssetKey, ...]  # besides its export view
    description: str

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["boss_insights", self.name])

    @property
    def target(self) -> str:
        return f"{events.TARGET_PREFIX}{self.obj}"

    @property
    def export(self) -> exports.Export:
        """The view of what is sent, the dbt model `boss_insights_<name>`."""
        return exports.Export(f"boss_insights_{self.name}")

    @property
    def mapping(self) -> Path:
        """The CDM field names and types, a file a user changes without editing code (or one
        of the same name in BOSS_INSIGHTS_MAPPING_DIR)."""
        return MAPPINGS / f"{self.name}.fields.toml"


VENDORS = CdmTarget(
    "vendors",
    "vendor",
    (),
    "Basware suppliers (`basware.adm_supplier`) written to the Boss Insights Common Data Model "
    "as vendors.",
)
PAYABLE_INVOICES = CdmTarget(
    "payable_invoices",
    "payable_invoice",
    (VENDORS.key,),
    "Basware invoices (`basware.ia_invoice`, not removed) written to the Boss Insights Common "
    "Data Model as payable invoices, amounts in minor units, after their vendors.",
)
TARGETS = (VENDORS, PAYABLE_INVOICES)


def _candidates(
    con: duckdb.DuckDBPyConnection, spec: CdmTarget, mapping: Path
) -> tuple[list[outbox.Candidate], int]:
    """The export view's records, converted with `mapping` and validated; a mapping that reads
    a column the view does not return fails here, naming both files and the column."""
    fields = load_fields(mapping)
    columns = exports.columns(con, spec.export)  # a missing view fails here, saying how to build it
    check_columns(fields, columns, mapping, spec.export.sql)
    if "record_key" not in columns:
        raise MappingError(f"{spec.export.sql_name} must return a record_key column")
    rows = exports.read(con, spec.export)
    candidates = []
    for row in rows:
        record, errors = to_record(fields, row)
        candidates.append(
            outbox.Candidate(str(row["record_key"]), record, outbox.payload_hash(record), errors)
        )
    return candidates, len(rows)


def _created_id(written: Written, paths: tuple[str, ...]) -> str | None:
    """The CDM's id for a record it created, at the first of `paths` (BOSS_INSIGHTS_ID_PATH)."""
    for path in paths:
        value = lookup(written.body, written.headers, path)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _plan_op(spec: CdmTarget) -> dg.OpDefinition:
    @dg.op(
        name=f"boss_insights_{spec.name}_plan",
        ins={"after": dg.In(dg.Nothing)},  # the export view it reads (and its deps)
        pool="duckdb",
        description=f"Read {spec.export.relation}, convert each row with "
        f"queries/{spec.name}.fields.toml, validate it and plan the outbox (the warehouse only).",
    )
    def plan(
        context: dg.OpExecutionContext,
        boss_insights: BossInsightsResource,
        warehouse: DuckDBWarehouse,
    ) -> Planned:
        path = boss_insights.write_path(spec.obj)  # a missing path fails before anything else
        boss_insights.send_concurrency()  # so does a wrong BOSS_INSIGHTS_CONCURRENCY
        update = boss_insights.update_method()
        mapping = boss_insights.mapping_file(spec.mapping)
        try:
            with warehouse.journal() as journal, warehouse.connect() as con:
                candidates, count = _candidates(con, spec, mapping)
                queue = plan_outbox(
                    context, con, journal, spec.target, boss_insights.source(), candidates,
                    create_only=update.create_only, update_needs_remote_id=update.needs_remote_id,
                )  # fmt: skip
        except MappingError as exc:
            raise dg.Failure(description=f"Boss Insights {spec.name}: {exc}") from exc
        metadata = {"records_in_query": count, "write_path": path, "update": update.describe(),
                    "mapping": str(mapping)}  # fmt: skip
        return Planned(context.run_id, queue, metadata)

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
        update = boss_insights.update_method()
        id_paths = boss_insights.created_id_paths()

        def write(client: BossInsightsClient, item: outbox.Outgoing) -> outbox.Outcome:
            method, where = update.request(path, item.remote_id)
            try:
                written = client.write(where, item.payload, item.tracking_id, method)
            except BossInsightsRejectedError as exc:
                return outbox.Outcome("rejected", error=str(exc), field_errors=exc.field_errors)
            except BossInsightsUncertainError as exc:  # its webhook, if any, will tell
                return outbox.Outcome("uncertain", error=str(exc))
            except BossInsightsError as exc:  # not written (refused credentials, unreachable)
                raise outbox.StopSending(
                    f"Boss Insights write-back of {spec.name} stopped: {exc}"
                ) from exc
            remote_id = item.remote_id or _created_id(written, id_paths)
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
        context: dg.OpExecutionContext,
        boss_insights: BossInsightsResource,
        warehouse: DuckDBWarehouse,
        planned: Planned,
        sent: Sent,
    ) -> None:
        layout = boss_insights.webhook_layout()
        with warehouse.journal() as journal, warehouse.connect() as con:
            record_sent(context, con, journal, spec.target, sent)
            settled = events.reconcile(con, layout)  # webhooks folded while we were sending
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
            for i, key in enumerate((spec.export.key, *spec.deps))
        },
        group_name=GROUP,
        kinds={"bossinsights", "duckdb"},
        description=f"{spec.description} New records are sent once; a changed one is sent "
        "again only as BOSS_INSIGHTS_UPDATE says (unset: it is reported as changed_since_sent, "
        f"never posted twice). Every record's state is in `writeback.outbox` (target "
        f"`{spec.target}`), confirmed only by a webhook saying every destination succeeded. "
        f"Reads the view `{spec.export.relation}` (`{spec.export.sql_name}`), CDM fields: "
        f"`p2p_assets/defs/boss_insights/queries/{spec.name}.fields.toml`. Three steps: plan "
        "and record in pool `duckdb`, "
        "the Boss Insights calls alone in pool `boss_insights_api`.",
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
