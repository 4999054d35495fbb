"""Write-back to Workspace 365: the P2P team's "Invoice exceptions" Business App.

Materialising `workspace365/invoice_exceptions` runs `queries/invoice_exceptions.sql`, converts
each row with the field mapping below (validated before anything is sent), plans the outbox, and
creates each pending record, marking it `sending` before the call. Workspace 365 is create-only
and cannot look a record up: a record is never created twice, a changed one is reported
(`changed_since_sent`), and one whose answer was lost is held as `uncertain` for a person.
"""

import os
from pathlib import Path

import dagster as dg

from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.workspace365.resources import Workspace365Resource
from p2p_assets.lib.warehouse.connection import table_columns
from p2p_assets.lib.workspace365.errors import (
    Workspace365Error,
    Workspace365RejectedError,
    Workspace365UncertainError,
)
from p2p_assets.lib.workspace365.fields import Field, FieldType, to_record
from p2p_assets.lib.writeback import outbox

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
CRASH_AFTER = "P2P_WRITEBACK_CRASH_AFTER_ACCEPTED"
"""Test hook: exit the process hard after this many accepted records, before recording them."""


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
    with warehouse.connect() as con:
        outbox.plan(con, TARGET, candidates, create_only=True)
        queue = outbox.outgoing(con, TARGET)
    sent = _send(context, workspace365, warehouse, queue)
    with warehouse.connect(read_only=True) as con:
        counts = outbox.summary(con, TARGET)
        first_rejections = outbox.rejections(con, TARGET)
    return dg.MaterializeResult(
        metadata={
            "records_in_query": len(rows),
            "sent_now": sent,
            **{f"outbox_{status}": n for status, n in counts.items()},
            "first_rejections": dg.MetadataValue.json(first_rejections),
        }
    )


def _send(
    context: dg.AssetExecutionContext,
    workspace365: Workspace365Resource,
    warehouse: DuckDBWarehouse,
    queue: list[outbox.Outgoing],
) -> int:
    crash_after = int(os.environ.get(CRASH_AFTER) or 0)
    sent = 0
    with workspace365.get_client() as client:
        for item in queue:
            with warehouse.connect() as con:
                outbox.claim(con, TARGET, item.key)
            try:
                record_id = client.create_record(APP, item.payload)
            except Workspace365RejectedError as exc:
                result = {"status": "rejected", "error": str(exc),
                          "field_errors": exc.field_errors}  # fmt: skip
            except Workspace365UncertainError as exc:
                result = {"status": "uncertain", "error": str(exc)}
            except Workspace365Error as exc:
                with warehouse.connect() as con:
                    outbox.settle(con, TARGET, item.key, "failed", error=str(exc))
                raise dg.Failure(f"Workspace 365 write-back stopped: {exc}") from exc
            else:
                sent += 1
                if crash_after and sent >= crash_after:
                    os._exit(70)  # the test hook: die between the vendor's yes and our record
                result = {"status": "sent", "remote_id": str(record_id)}
            with warehouse.connect() as con:
                outbox.settle(con, TARGET, item.key, **result)
    context.log.info("Workspace 365: %d record(s) created", sent)
    return sent


@dg.asset_check(
    asset=workspace365_invoice_exceptions,
    name="no_record_was_rejected",
    description="No invoice exception in the outbox was refused, by our validation or by "
    "Workspace 365; the first reasons are shown.",
    pool="duckdb",
)
def no_record_was_rejected(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if not table_columns(con, outbox.SCHEMA, "outbox"):
            return dg.AssetCheckResult(passed=True, metadata={"note": "nothing planned yet"})
        counts = outbox.summary(con, TARGET)
        first = outbox.rejections(con, TARGET)
    return dg.AssetCheckResult(
        passed=counts["rejected"] == 0,
        metadata={
            "rejected": counts["rejected"],
            "uncertain": counts["uncertain"],
            "first_rejections": dg.MetadataValue.json(first),
        },
    )


workspace365_writeback_job = dg.define_asset_job(
    name="workspace365_writeback_job",
    description="Send the invoice exceptions that are new since the last run to Workspace 365.",
    selection=dg.AssetSelection.assets(workspace365_invoice_exceptions),
)
