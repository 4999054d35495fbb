"""Write-back to Workspace 365: the P2P team's "Invoice exceptions" Business App.

Materialising `workspace365/invoice_exceptions` reads the view
`exports.workspace365_invoice_exceptions` (the dbt model
`p2p_assets/dbt/models/exports/workspace365_invoice_exceptions.sql`, the asset
`marts/workspace365_invoice_exceptions` it depends on), converts each row with the field mapping
below (validated before anything is sent), plans the outbox, and creates each pending record,
claiming it in the send journal before the call. Workspace 365 is create-only and cannot look a
record up: a record is never created twice, a changed one is reported (`changed_since_sent`), and
one whose answer was lost is held as `uncertain` for a person. Three steps (see
`defs/warehouse/writeback.py`): plan (pool `duckdb`), send (pool `workspace365_api`, the send
journal and Workspace 365 only, `WORKSPACE365_CONCURRENCY` records at once), record (pool
`duckdb`).

When Workspace 365 cannot take any record (the app disabled: 403 with "Business App isn't
enabled"; not found or not installed: 404; the token refused; the API off; unreachable), nothing
more is sent, the records stay `pending` and the materialisation fails with the vendor's message;
the next run after the cause is fixed sends each of them once.
"""

import dagster as dg

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
from p2p_assets.defs.workspace365.resources import Workspace365Resource
from p2p_assets.lib.workspace365.client import Workspace365Client
from p2p_assets.lib.workspace365.errors import (
    Workspace365ConfigError,
    Workspace365Error,
    Workspace365RejectedError,
    Workspace365UncertainError,
)
from p2p_assets.lib.workspace365.fields import Field, FieldType, to_record
from p2p_assets.lib.writeback import outbox

APP = "Invoice exceptions"
TARGET = f"workspace365:{APP}"
EXPORT = exports.Export("workspace365_invoice_exceptions")
FIELDS = (
    Field("Basware invoice id", FieldType.SINGLE_LINE_TEXT, "basware_invoice_id", required=True),
    Field("Invoice number", FieldType.SINGLE_LINE_TEXT, "invoice_number", required=True),
    Field("Supplier", FieldType.SINGLE_LINE_TEXT, "supplier", required=True),
    Field("Amount", FieldType.CURRENCY, "gross_amount", required=True, currency_column="currency"),
    Field("Due date", FieldType.DATE, "due_date"),
    Field("Days overdue", FieldType.INTEGER, "days_overdue"),
    Field("Detected at", FieldType.DATE_TIME, "detected_at"),
    Field("Status", FieldType.DROPDOWN, "status", required=True,
          options=("New", "In progress", "Waiting for supplier", "Resolved")),
    Field("Reasons", FieldType.CHECKBOX_LIST, "reasons",
          options=("Overdue", "Disputed", "Payment blocked", "Not matched to a PO")),
)  # fmt: skip
# Not a change of the exception: the days grow by themselves, and the newest Basware extract's
# time moves with every extract (a record keeps the time it was first planned with).
VOLATILE = ("Days overdue", "Detected at")


@dg.op(
    name="workspace365_invoice_exceptions_plan",
    ins={"after": dg.In(dg.Nothing)},  # the export view it reads
    pool="duckdb",
    description=f"Read {EXPORT.relation}, validate each record and plan the outbox (the "
    "warehouse only).",
)
def workspace365_invoice_exceptions_plan(
    context: dg.OpExecutionContext,
    workspace365: Workspace365Resource,
    warehouse: DuckDBWarehouse,
) -> Planned:
    try:  # a wrong setting fails here, before anything is planned or sent
        zone = workspace365.zone()
        workspace365.send_concurrency()
    except Workspace365ConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    with warehouse.journal() as journal, warehouse.connect() as con:
        rows = exports.read(con, EXPORT)  # a missing view fails here, saying how to build it
        candidates = []
        for row in rows:
            record, errors = to_record(FIELDS, row, timezone=zone)
            candidates.append(
                outbox.Candidate(
                    str(row["record_key"]), record, outbox.payload_hash(record, VOLATILE), errors
                )
            )
        queue = plan_outbox(
            context, con, journal, TARGET, workspace365.source(), candidates, create_only=True
        )
    return Planned(context.run_id, queue, {"records_in_query": len(rows)})


@dg.op(
    name="workspace365_invoice_exceptions_send",
    pool="workspace365_api",
    description="Create each planned record in Workspace 365 (the send journal only, no DuckDB).",
)
def workspace365_invoice_exceptions_send(
    context: dg.OpExecutionContext,
    workspace365: Workspace365Resource,
    warehouse: DuckDBWarehouse,
    planned: Planned,
) -> Sent:
    with warehouse.journal() as journal:
        sent = send_queue(
            context, journal, TARGET, planned, workspace365.get_client, _create,
            concurrency=workspace365.send_concurrency(),
        )  # fmt: skip
    if sent.accepted is not None:
        context.log.info("Workspace 365: %d record(s) created", sent.accepted)
    return sent


def _create(client: Workspace365Client, item: outbox.Outgoing) -> outbox.Outcome:
    try:
        record_id = client.create_record(APP, item.payload)
    except Workspace365RejectedError as exc:
        return outbox.Outcome("rejected", error=str(exc), field_errors=exc.field_errors)
    except Workspace365UncertainError as exc:
        return outbox.Outcome("uncertain", error=str(exc))
    except Workspace365Error as exc:  # nothing created, and no record can be now
        raise outbox.StopSending(
            f"Workspace 365 write-back stopped: {exc}. Nothing more was sent; the records stay "
            "pending and the next run sends them",
            status="pending",
        ) from exc
    return outbox.Outcome("sent", remote_id=str(record_id))


@dg.op(
    name="workspace365_invoice_exceptions_record",
    pool="duckdb",
    description="Record what was sent in writeback.outbox; fail the run if sending stopped.",
)
def workspace365_invoice_exceptions_record(
    context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, planned: Planned, sent: Sent
) -> None:
    with warehouse.journal() as journal, warehouse.connect() as con:
        record_sent(context, con, journal, TARGET, sent)
        metadata = outbox_metadata(con, TARGET)
    context.add_output_metadata({**planned.metadata, "sent_now": sent.accepted, **metadata})


@dg.graph_asset(
    key=dg.AssetKey(["workspace365", "invoice_exceptions"]),
    ins={"exceptions": dg.AssetIn(EXPORT.key, dagster_type=dg.Nothing)},
    group_name="writeback",
    kinds={"workspace365", "duckdb"},
    description=f"Open Basware invoices that need attention (overdue, disputed, payment-blocked, "
    f"not matched to a PO), created as records of the Workspace 365 Business App '{APP}'. "
    "Only records new since the last materialisation are sent; every record's state is in "
    f"`writeback.outbox` (target `workspace365:Invoice exceptions`). Reads the view "
    f"`{EXPORT.relation}` (`{EXPORT.sql_name}`). Three steps: plan and record in pool `duckdb`, "
    "the Workspace 365 calls alone in pool `workspace365_api`.",
)
def workspace365_invoice_exceptions(exceptions):
    planned = workspace365_invoice_exceptions_plan(after=[exceptions])
    sent = workspace365_invoice_exceptions_send(planned)
    return workspace365_invoice_exceptions_record(planned, sent)


no_record_was_rejected = rejections_check(workspace365_invoice_exceptions, TARGET, "Workspace 365")


workspace365_writeback_job = dg.define_asset_job(
    name="workspace365_writeback_job",
    description="Send the invoice exceptions that are new since the last run to Workspace 365.",
    selection=dg.AssetSelection.assets(workspace365_invoice_exceptions),
)
