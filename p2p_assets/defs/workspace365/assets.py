"""Write-back to Workspace 365: the P2P team's "Invoice exceptions" Business App.

Materialising `workspace365/invoice_exceptions` runs `queries/invoice_exceptions.sql`, converts
each row with the field mapping below (validated before anything is sent), plans the outbox, and
creates each pending record, claiming it in the send journal before the call. Workspace 365 is
create-only and cannot look a record up: a record is never created twice, a changed one is
reported (`changed_since_sent`), and one whose answer was lost is held as `uncertain` for a
person.
"""

from pathlib import Path

import dagster as dg

from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.warehouse.writeback import (
    claim_target,
    outbox_metadata,
    rejections_check,
)
from p2p_assets.defs.workspace365.resources import Workspace365Resource
from p2p_assets.lib.workspace365.errors import (
    Workspace365Error,
    Workspace365RejectedError,
    Workspace365UncertainError,
)
from p2p_assets.lib.workspace365.fields import Field, FieldType, to_record
from p2p_assets.lib.writeback import outbox
from p2p_assets.lib.writeback.journal import Journal

APP = "Invoice exceptions"
TARGET = f"workspace365:{APP}"
QUERY = Path(__file__).parent / "queries" / "invoice_exceptions.sql"
FIELDS = (
    Field("Basware invoice id", FieldType.SINGLE_LINE_TEXT, "basware_invoice_id", required=True),
    Field("Invoice number", FieldType.SINGLE_LINE_TEXT, "invoice_number", required=True),
    Field("Supplier", FieldType.SINGLE_LINE_TEXT, "supplier", required=True),
    Field("Amount", FieldType.CURRENCY, "gross_amount", required=True, currency_column="currency"),
    Field("Due date", FieldType.DATE, "due_date"),
    Field("Days overdue", FieldType.INTEGER, "days_overdue"),
    Field("Status", FieldType.DROPDOWN, "status", required=True,
          options=("New", "In progress", "Waiting for supplier", "Resolved")),
    Field("Reasons", FieldType.CHECKBOX_LIST, "reasons",
          options=("Overdue", "Disputed", "Payment blocked", "Not matched to a PO")),
)  # fmt: skip
VOLATILE = ("Days overdue",)  # grows every day by itself: not a change of the exception


@dg.asset(
    key=dg.AssetKey(["workspace365", "invoice_exceptions"]),
    deps=[dg.AssetKey(["basware", "ia_invoice"]), dg.AssetKey(["basware", "extracts"])],
    group_name="writeback",
    kinds={"workspace365", "duckdb"},
    pool="workspace365_api",
    description=f"Open Basware invoices that need attention (overdue, disputed, payment-blocked, "
    f"not matched to a PO), created as records of the Workspace 365 Business App '{APP}'. "
    "Only records new since the last materialisation are sent; every record's state is in "
    "`writeback.outbox` (target `workspace365:Invoice exceptions`). Query: "
    "`p2p_assets/defs/workspace365/queries/invoice_exceptions.sql`.",
)
def workspace365_invoice_exceptions(
    context: dg.AssetExecutionContext,
    workspace365: Workspace365Resource,
    warehouse: DuckDBWarehouse,
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        rows = con.sql(QUERY.read_text()).to_arrow_table().to_pylist()
    candidates = []
    for row in rows:
        record, errors = to_record(FIELDS, row)
        candidates.append(
            outbox.Candidate(
                str(row["record_key"]), record, outbox.payload_hash(record, VOLATILE), errors
            )
        )
    with warehouse.journal() as journal:
        with warehouse.connect() as con:
            claim_target(con, workspace365.source())
            outbox.plan(con, TARGET, candidates, create_only=True, journal=journal)
            queue = outbox.outgoing(con, TARGET)
        try:
            sent = _send(context, workspace365, journal, queue)
        finally:  # even when the run stops: what was sent is recorded now
            with warehouse.connect() as con:
                outbox.record_journal(con, journal)
    with warehouse.connect(read_only=True) as con:
        metadata = outbox_metadata(con, TARGET)
    return dg.MaterializeResult(
        metadata={"records_in_query": len(rows), "sent_now": sent, **metadata}
    )


def _send(
    context: dg.AssetExecutionContext,
    workspace365: Workspace365Resource,
    journal: Journal,
    queue: list[outbox.Outgoing],
) -> int:
    with workspace365.get_client() as client:

        def create(item: outbox.Outgoing) -> outbox.Outcome:
            try:
                record_id = client.create_record(APP, item.payload)
            except Workspace365RejectedError as exc:
                return outbox.Outcome("rejected", error=str(exc), field_errors=exc.field_errors)
            except Workspace365UncertainError as exc:
                return outbox.Outcome("uncertain", error=str(exc))
            except Workspace365Error as exc:
                raise outbox.StopSending(f"Workspace 365 write-back stopped: {exc}") from exc
            return outbox.Outcome("sent", remote_id=str(record_id))

        try:
            sent = outbox.send_pending(journal, TARGET, queue, create)
        except outbox.StopSending as exc:
            raise dg.Failure(str(exc)) from exc
    context.log.info("Workspace 365: %d record(s) created", sent)
    return sent


no_record_was_rejected = rejections_check(workspace365_invoice_exceptions, TARGET, "Workspace 365")


workspace365_writeback_job = dg.define_asset_job(
    name="workspace365_writeback_job",
    description="Send the invoice exceptions that are new since the last run to Workspace 365.",
    selection=dg.AssetSelection.assets(workspace365_invoice_exceptions),
)
