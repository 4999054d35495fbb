"""Purchase orders and invoices with their child rows.

Amounts are integers in units of the column's scale (cents, thousandths of a unit of quantity)
and header sums are exact sums of their rows. A document's static values depend on its serial;
its status values on (serial, version), the version being the extract that delivers it.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware import linking, problems
from p2p_assets.sandbox.basware.masters import (
    COMPANIES,
    company,
    ids,
    supplier_code,
    supplier_currency,
    supplier_name,
    take,
)
from p2p_assets.sandbox.basware.plan import Plan, expand

PRODUCTS = [
    ("P-1001", "Copy paper A4, 80 g", "BOX", 2_450),
    ("P-1002", 'Toner "XL" black', "PCS", 8_990),
    ("P-1003", "Laptop stand", "PCS", 3_900),
    ("P-1004", "Cleaning, monthly", "MON", 125_000),
    ("P-1005", "Consulting hour", "H", 9_500),
    ("P-1006", "Pallet transport", "PCS", 18_000),
    ("P-1007", "Coffee beans 1 kg", "KG", 1_890),
    ("P-1008", "Electricity", "MWH", 11_250),
    ("P-1009", "Software licence", "PCS", 45_000),
    ("P-1010", "Safety gloves", "PAIR", 650),
]
# Invoice rows beyond an order's rows: charges no order carries, so they match no order row.
FEES = [("P-9001", "Freight", "PCS", 4_500), ("P-9002", "Small order surcharge", "PCS", 1_500)]
INVOICED = PRODUCTS + FEES
ACCOUNTS = [
    ("4000", "Materials"),
    ("4100", "Services"),
    ("6000", "Office expenses"),
    ("6300", "IT services"),
    ("6500", "Travel, domestic"),
]
TAX_BP = np.array([2400, 2400, 2400, 1400, 1000, 0])
ORDER_STATUSES = ["Open", "PartiallyReceived", "Received", "Closed"]


def group_sum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Exact integer sums of consecutive groups (np.bincount would go through float64)."""
    ends = np.cumsum(counts)
    running = np.concatenate([[0], np.cumsum(values)])
    return running[ends] - running[ends - counts]


def dates(timestamps: np.ndarray) -> np.ndarray:
    return timestamps.astype("datetime64[D]")


def days(n: np.ndarray) -> np.ndarray:
    return (np.asarray(n, dtype=np.int64) * 86400).astype("timedelta64[s]")


def order_number(o: np.ndarray) -> pl.Series:
    return "PO" + pl.Series(4_500_000_000 + o).cast(pl.String)


def order_row_product(plan: Plan, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(product index, unit price) of order rows `r`."""
    product = plan.pick("orow:prod", r, len(PRODUCTS))
    base_price = np.array([p[3] for p in PRODUCTS])[product]
    return product, base_price * (90 + plan.pick("orow:price", r, 21)) // 100


def order_rows(plan: Plan, o: np.ndarray) -> dict:
    """Rows of orders `o` with parent positions (`_parent`) for joining back."""
    counts, offsets = linking.order_row_layout(plan, o)
    parent, r, k = expand(counts, offsets)
    product, price = order_row_product(plan, r)
    quantity = linking.ordered_quantity(plan, r)
    return {
        "_parent": parent,
        "_counts": counts,
        "_serial": r,
        "ID": ids(plan, "OM_ORDER_ROW", r),
        "ORDER_ID": ids(plan, "OM_ORDER_DATA", o[parent]),
        "ROW_NUMBER": k + 1,
        "PRODUCT_CODE": take([p[0] for p in PRODUCTS], product),
        "DESCRIPTION": take([p[1] for p in PRODUCTS], product),
        "QUANTITY": quantity,
        "UNIT": take([p[2] for p in PRODUCTS], product),
        "UNIT_PRICE": price,
        "NET_SUM": (quantity * price + 500) // 1000,
    }


def orders(plan: Plan, o: np.ndarray, version: np.ndarray) -> tuple[dict, dict]:
    """(OM_ORDER_DATA columns, OM_ORDER_ROW columns) for orders `o`."""
    created = plan.orders.created_in(o)
    supplier = plan.pick("ord:sup", o, plan.suppliers.count_through(created))
    buyer = plan.pick("ord:buyer", o, plan.users.count_through(created))
    org = plan.pick("ord:org", o, plan.orgs.count_through(created))
    created_at = plan.created("ord", o, created)
    rows = order_rows(plan, o)
    rows["CREATION_TIME"] = created_at[rows["_parent"]]
    base = np.where(created == 0, plan.pick("ord:stage", o, 4), 0)
    stage = np.minimum(3, base + version - created)
    header = {
        "ID": ids(plan, "OM_ORDER_DATA", o),
        "ORDER_NUMBER": order_number(o),
        "SUPPLIER_ID": ids(plan, "ADM_SUPPLIER", supplier),
        "SUPPLIER_CODE": supplier_code(supplier),
        "SUPPLIER_NAME": supplier_name(plan, supplier),
        "COMPANY_CODE": take([c[0] for c in COMPANIES], company(org)),
        "BUYER_USER_ID": ids(plan, "ADM_USER_DATA", buyer),
        "ORDER_DATE": dates(created_at),
        "DELIVERY_DATE": dates(created_at + days(7 + plan.pick("ord:deliv", o, 24))),
        "CURRENCY_CODE": supplier_currency(plan, supplier),
        "NET_SUM": group_sum(rows["NET_SUM"], rows["_counts"]),
        "STATUS": take(ORDER_STATUSES, stage),
        "CREATION_TIME": created_at,
        "_buyer": buyer,
    }
    return header, rows


def goods_receipts(plan: Plan, o: np.ndarray, header: dict, rows: dict) -> dict:
    """Receipts for every row of an order an invoice bills (but the planted `not_received`
    one) and for about 80% of the other order rows, delivered with the order rows themselves."""
    invoice, paired = linking.invoice_of(plan, o[rows["_parent"]])
    billed = paired & linking.may_bill(plan, invoice)
    received = billed | (plan.pick("gr:has", rows["_serial"], 10) < 8)
    unreceived = problems.planted(plan.config).not_received
    if unreceived != problems.NONE:
        order = linking.order_of(plan, np.array([unreceived]))
        received &= rows["_serial"] != linking.order_row_layout(plan, order)[1][0]
    r = rows["_serial"][received]
    parent = rows["_parent"][received]
    created = plan.orders.created_in(o[parent])
    latest = plan.day(created) - np.timedelta64(3600, "s")
    receipt_at = np.minimum(
        header["CREATION_TIME"][parent] + days(1 + plan.pick("gr:day", r, 10)), latest
    )
    quantity = linking.received_quantity(plan, r)
    return {
        "ID": ids(plan, "OM_GOODS_RECEIPT", r),
        "ORDER_ROW_ID": ids(plan, "OM_ORDER_ROW", r),
        "ORDER_ID": ids(plan, "OM_ORDER_DATA", o[parent]),
        "ORDER_NUMBER": order_number(o[parent]),
        "RECEIPT_NUMBER": "GR" + pl.Series(5_000_000_000 + r).cast(pl.String),
        "RECEIVED_QUANTITY": quantity,
        "RECEIPT_DATE": dates(receipt_at),
        "RECEIVED_BY_USER_ID": ids(plan, "ADM_USER_DATA", header["_buyer"][parent]),
        "CREATION_TIME": receipt_at,
    }


def order_coding_rows(plan: Plan, rows: dict) -> dict:
    r = rows["_serial"]
    account = plan.pick("ocod:acc", r, len(ACCOUNTS))
    return {
        "ID": ids(plan, "OM_CODING_ROW", r),
        "ORDER_ROW_ID": rows["ID"],
        "ORDER_ID": rows["ORDER_ID"],
        "ACCOUNT_CODE": take([a[0] for a in ACCOUNTS], account),
        "COST_CENTER_CODE": "CC" + pl.Series(100 + plan.pick("ocod:cc", r, 90)).cast(pl.String),
        "NET_SUM": rows["NET_SUM"],
        "CREATION_TIME": rows["CREATION_TIME"],
    }


def round_div(numerator: np.ndarray, denominator) -> np.ndarray:
    """Half away from zero, in integers."""
    half = denominator // 2
    return np.sign(numerator) * ((np.abs(numerator) + half) // denominator)
