"""The deterministic synthetic P2P data of one extract, as typed polars frames.

Extract 0 is the Initial; each Delta creates new documents and master records and re-delivers a
sample of existing ones with changed status/payment values under the same `ID`. Children are
delivered in the extract that creates their parent, and parents only ever point to records that
exist in the same or an earlier extract, so every `tables.REFERENCES` entry holds.

Frame dtypes follow the column kinds of `schema.py`: text String, int Int64, decimal Int64 scaled
by 10**scale, timestamp Datetime, date Datetime carrying a time of day (`times.py`; Date when the
config's `dates_with_time` is off).
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware import documents, invoices, masters, times
from p2p_assets.sandbox.basware.config import BaswareFaults
from p2p_assets.sandbox.basware.masters import ids, null_where, take
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.schema import Column, table_columns
from p2p_assets.sandbox.basware.tables import tier_tables

ACTIONS = [
    ("RECEIVE", "Received"),
    ("SEND_FOR_APPROVAL", "Sent for approval"),
    ("APPROVE", "Approved"),
    ("TRANSFER", "Transferred to payment"),
    ("PAY", "Paid"),
    ("REMOVE", "Removed"),
]
COMMENTS = ["OK", "Approved, thanks", 'Checked "price" with buyer', "Hyväksytty"]


def generate_extract(plan: Plan, extract: int) -> dict[str, pl.DataFrame]:
    """Every table's records delivered by `extract` (tables without records are absent)."""
    out: dict[str, dict] = {}
    orgs = plan.orgs.block(extract).serials()
    out["ADM_ORGANIZATION_ELEMENT"] = masters.org_elements(plan, orgs, np.full_like(orgs, extract))

    users, v = _delivered(plan, plan.users, extract, "users")
    out["ADM_USER_DATA"] = masters.users(plan, users, v)
    suppliers, v = _delivered(plan, plan.suppliers, extract, "suppliers")
    out["ADM_SUPPLIER"] = masters.suppliers(plan, suppliers, v)

    new_orders = plan.orders.block(extract).serials()
    header, rows = documents.orders(plan, new_orders, np.full_like(new_orders, extract))
    out["OM_ORDER_ROW"] = rows
    out["OM_GOODS_RECEIPT"] = documents.goods_receipts(plan, new_orders, header, rows)
    out["OM_CODING_ROW"] = documents.order_coding_rows(plan, rows)
    again = plan.redelivered(plan.orders, extract, "orders")
    if len(again):
        header = _concat(header, documents.orders(plan, again, np.full_like(again, extract))[0])
    out["OM_ORDER_DATA"] = header

    new_invoices = plan.invoices.block(extract).serials()
    header, rows = invoices.invoices(plan, new_invoices, np.full_like(new_invoices, extract))
    out["IA_INVOICE_ROW"] = rows
    out["IA_CODING_ROW"] = _invoice_coding_rows(plan, rows)
    out["IA_INVOICE_ORDER_NUMBER"] = _order_numbers(plan, new_invoices, header)
    out["IA_INVOICE_DELIVERY_NOTE"] = _delivery_notes(plan, new_invoices, header)
    again = plan.redelivered(plan.invoices, extract, "invoices")
    if len(again):
        header = _concat(header, invoices.invoices(plan, again, np.full_like(again, extract))[0])
    out["IA_INVOICE"] = header
    if plan.config.tier == "pro":
        out["IA_ACTION_LOG"] = _action_log(plan, extract, header)
        out["PE_PROCESS_TASK"] = _process_tasks(plan, extract, header)

    frames = {
        table: typed_frame(plan, table, out[table]) for table in tier_tables(plan.config.tier)
    }
    return {table: frame for table, frame in frames.items() if frame.height}


def _delivered(plan: Plan, sizes, extract: int, salt: str) -> tuple[np.ndarray, np.ndarray]:
    serials = np.concatenate(
        [sizes.block(extract).serials(), plan.redelivered(sizes, extract, salt)]
    )
    return serials, np.full_like(serials, extract)


def _concat(first: dict, second: dict) -> dict:
    out = {}
    for name, value in first.items():
        if isinstance(value, pl.Series):
            out[name] = pl.concat([value, second[name]])
        else:
            out[name] = np.concatenate([value, second[name]])
    return out


def _invoice_coding_rows(plan: Plan, rows: dict) -> dict:
    r = rows["_serial"]
    account = plan.pick("icod:acc", r, len(documents.ACCOUNTS))
    return {
        "ID": ids(plan, "IA_CODING_ROW", r),
        "INVOICE_ID": rows["INVOICE_ID"],
        "INVOICE_ROW_ID": rows["ID"],
        "CODING_ROW_NUMBER": np.ones(len(r), dtype=np.int64),
        "ACCOUNT_CODE": take([a[0] for a in documents.ACCOUNTS], account),
        "ACCOUNT_NAME": take([a[1] for a in documents.ACCOUNTS], account),
        "COST_CENTER_CODE": _cost_centre_codes(plan, r),
        "PROJECT_CODE": null_where(
            "PRJ-" + pl.Series(plan.pick("icod:prj", r, 40)).cast(pl.String),
            plan.pick("icod:prj?", r, 10) >= 3,
        ),
        "TAX_CODE": "V" + pl.Series(rows["TAX_PERCENT"] // 100).cast(pl.String),
        "NET_SUM": rows["NET_SUM"],
        "TAX_SUM": rows["TAX_SUM"],
        "GROSS_SUM": rows["GROSS_SUM"],
        "CREATION_TIME": rows["CREATION_TIME"],
    }


def _cost_centre_codes(plan: Plan, r: np.ndarray) -> pl.Series:
    return "CC" + pl.Series(100 + plan.pick("icod:cc", r, 90)).cast(pl.String)


def cost_centres(plan: Plan) -> list[str]:
    """The cost centres the Initial's invoice coding rows book on, sorted (other systems of the
    tenant, such as Visma's payroll journals, book on these)."""
    rows = np.arange(plan.initial_invoice_rows, dtype=np.int64)
    return sorted(set(_cost_centre_codes(plan, rows).to_list()))


def _order_numbers(plan: Plan, s: np.ndarray, header: dict) -> dict:
    keep = header["_has_order"]
    return {
        "ID": ids(plan, "IA_INVOICE_ORDER_NUMBER", s[keep]),
        "INVOICE_ID": header["ID"].filter(pl.Series(keep)),
        "ORDER_NUMBER": documents.order_number(header["_order"][keep]),
        "CREATION_TIME": header["CREATION_TIME"][keep],
    }


def _delivery_notes(plan: Plan, s: np.ndarray, header: dict) -> dict:
    keep = plan.pick("inv:dn", s, 10) < 3
    back = (1 + plan.pick("inv:dnday", s[keep], 5)).astype("timedelta64[D]")
    return {
        "ID": ids(plan, "IA_INVOICE_DELIVERY_NOTE", s[keep]),
        "INVOICE_ID": header["ID"].filter(pl.Series(keep)),
        "DELIVERY_NOTE_NUMBER": "DN-" + pl.Series(100_000 + s[keep]).cast(pl.String),
        "DELIVERY_DATE": header["INVOICE_DATE"][keep] - back,
        "CREATION_TIME": header["CREATION_TIME"][keep],
    }


def _action_log(plan: Plan, extract: int, header: dict) -> dict:
    """One line per delivered invoice version (its current status), plus a "Received" line for
    invoices created in this extract that are already further along."""
    stage, created = header["_stage"], header["_created"]
    action = np.where(header["_removed"], 5, stage)
    received = (created == extract) & (stage > 0)
    which = np.concatenate([np.nonzero(received)[0], np.arange(len(stage))])
    action = np.concatenate([np.zeros(int(received.sum()), dtype=np.int64), action])
    n = len(which)
    position = np.arange(n, dtype=np.int64) + extract * 10_000_000
    latest = plan.day(extract) - np.timedelta64(60, "s")
    at = header["CREATION_TIME"][which] + (
        np.where(action == 0, 0, 600 + plan.pick("log:at", position, 3 * 86400))
    ).astype("timedelta64[s]")
    users = plan.pick("log:user", position, plan.users.count_through(np.full(n, extract)))
    return {
        "ID": masters.event_ids(plan, "IA_ACTION_LOG", extract, n),
        "DOCUMENT_ID": header["ID"].gather(pl.Series(which)),
        "DOCUMENT_TYPE": take(["Invoice"], np.zeros(n, dtype=np.int64)),
        "ACTION_CODE": take([a[0] for a in ACTIONS], action),
        "ACTION_NAME": take([a[1] for a in ACTIONS], action),
        "USER_ID": ids(plan, "ADM_USER_DATA", users),
        "ACTION_TIME": np.minimum(at, latest),
        "COMMENT_TEXT": null_where(
            take(COMMENTS, plan.pick("log:c", position, len(COMMENTS))),
            plan.pick("log:c?", position, 10) >= 3,
        ),
    }


def _process_tasks(plan: Plan, extract: int, header: dict) -> dict:
    """One approval task per invoice, re-delivered with the invoice as it progresses."""
    stage, created, removed = header["_stage"], header["_created"], header["_removed"]
    serials = header["_serial"]
    status = np.where(removed, 2, np.where(stage <= 1, 0, 1))
    user = plan.pick("task:user", serials, plan.users.count_through(created))
    latest = plan.day(extract) - np.timedelta64(60, "s")
    done = header["CREATION_TIME"] + (3600 + plan.pick("task:done", serials, 2 * 86400)).astype(
        "timedelta64[s]"
    )
    return {
        "ID": ids(plan, "PE_PROCESS_TASK", serials),
        "DOCUMENT_ID": header["ID"],
        "TASK_TYPE": take(["Approve"], np.zeros(len(serials), dtype=np.int64)),
        "TASK_STATUS": take(["Open", "Completed", "Cancelled"], status),
        "ASSIGNED_USER_ID": ids(plan, "ADM_USER_DATA", user),
        "CREATED_TIME": header["CREATION_TIME"],
        "COMPLETED_TIME": null_where(np.minimum(done, latest), status == 0),
        "DUE_DATE": documents.dates(header["CREATION_TIME"]) + np.timedelta64(7, "D"),
    }


_DTYPES = {"text": pl.String, "int": pl.Int64, "decimal": pl.Int64}


def typed_frame(plan: Plan, table: str, columns: dict) -> pl.DataFrame:
    """The table's columns (numpy arrays or polars series) as a frame typed by column kind."""
    specs = table_columns(table, None, 0)
    frame = pl.DataFrame({c.name: masters.polars_ready(columns[c.name]) for c in specs})
    frame = frame.select(_cast(plan, c) for c in specs)
    return times.with_times(plan, table, frame, [c.name for c in specs if c.kind == "date"])


def _dtype(plan: Plan, column: Column) -> pl.DataType:
    if column.kind == "date":
        return times.date_dtype(plan)
    return _DTYPES.get(column.kind, pl.Datetime("us"))


def _cast(plan: Plan, column: Column) -> pl.Expr:
    return pl.col(column.name).cast(_dtype(plan, column))


def apply_drift(
    plan: Plan, table: str, frame: pl.DataFrame, faults: BaswareFaults, extract: int
) -> pl.DataFrame:
    """The frame as files of `extract` carry it under the current schema drift: dropped columns
    removed, added columns filled with plausible values (about one in five null)."""
    added, dropped = faults.drift_for(table, extract)
    frame = frame.drop([c for c in dropped if c in frame.columns])
    position = np.arange(frame.height, dtype=np.int64) + extract * 10_000_000
    dates = []
    for column in table_columns(table, faults, extract):
        if column.name not in added or column.name in frame.columns:
            continue
        draw = plan.pick(f"drift:{table}:{column.name}", position, 100_000)
        if column.kind == "date":
            values = documents.dates(plan.day(extract)) - (draw % 30).astype("timedelta64[D]")
        elif column.kind == "timestamp":
            values = plan.day(extract) - (draw % 86400).astype("timedelta64[s]")
        elif column.kind in ("decimal", "int"):
            values = draw if column.kind == "decimal" else draw % 10
        else:
            values = column.name.lower() + " " + pl.Series(draw % 1000).cast(pl.String)
        series = null_where(values, draw % 5 == 0).alias(column.name)
        frame = frame.with_columns(series.cast(_dtype(plan, column)))
        if column.kind == "date":
            dates.append(column.name)
    return times.with_times(plan, table, frame, dates)
