"""Purchase orders and invoices with their child rows.

Amounts are integers in units of the column's scale (cents, thousandths of a unit of quantity)
and header sums are exact sums of their rows. A document's static values depend on its serial;
its status values on (serial, version), the version being the extract that delivers it.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware.masters import (
    COMPANIES,
    EUR_RATE,
    company,
    ids,
    null_where,
    org_code,
    org_name,
    payment_terms,
    supplier_code,
    supplier_currency,
    supplier_name,
    take,
)
from p2p_assets.sandbox.basware.plan import ORDER_ROWS_PER_ORDER, Plan, expand

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
ACCOUNTS = [
    ("4000", "Materials"),
    ("4100", "Services"),
    ("6000", "Office expenses"),
    ("6300", "IT services"),
    ("6500", "Travel, domestic"),
]
TAX_BP = np.array([2400, 2400, 2400, 1400, 1000, 0])
INVOICE_STATUSES = ["Received", "InApproval", "Approved", "TransferredToPayment", "Paid"]
ORDER_STATUSES = ["Open", "PartiallyReceived", "Received", "Closed"]
TEXTS = ["Q1 budget", 'Ref: "urgent"', "Project Alpha, phase 2", "Rahti / frakt", "Ü-Lieferung"]


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


def order_rows(plan: Plan, o: np.ndarray) -> dict:
    """Rows of orders `o` with parent positions (`_parent`) for joining back."""
    counts, offsets = plan.children(
        "ord:rows", o, plan.orders, ORDER_ROWS_PER_ORDER, ORDER_ROWS_PER_ORDER * plan.orders.initial
    )
    parent, r, k = expand(counts, offsets)
    product = plan.pick("orow:prod", r, len(PRODUCTS))
    quantity = (1 + plan.pick("orow:qty", r, 50)) * 1000
    base_price = np.array([p[3] for p in PRODUCTS])[product]
    price = base_price * (90 + plan.pick("orow:price", r, 21)) // 100
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
    """Receipts for about 80% of the order rows, delivered with the order rows themselves."""
    received = plan.pick("gr:has", rows["_serial"], 10) < 8
    r = rows["_serial"][received]
    parent = rows["_parent"][received]
    created = plan.orders.created_in(o[parent])
    latest = plan.day(created) - np.timedelta64(3600, "s")
    receipt_at = np.minimum(
        header["CREATION_TIME"][parent] + days(1 + plan.pick("gr:day", r, 10)), latest
    )
    short = plan.pick("gr:short", r, 5) == 0
    ordered = rows["QUANTITY"][received]
    quantity = np.where(short, np.maximum(ordered - 1000, 500), ordered)
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


def invoice_rows(plan: Plan, s: np.ndarray, sign: np.ndarray) -> dict:
    counts, offsets = plan.children("inv:rows", s, plan.invoices, 4, plan.initial_invoice_rows)
    parent, r, k = expand(counts, offsets)
    product = plan.pick("irow:prod", r, len(PRODUCTS))
    fraction = np.where(plan.pick("irow:frac", r, 10) == 0, plan.pick("irow:milli", r, 1000), 0)
    quantity = sign[parent] * ((1 + plan.pick("irow:qty", r, 20)) * 1000 + fraction)
    base_price = np.array([p[3] for p in PRODUCTS])[product]
    price = base_price * (80 + plan.pick("irow:price", r, 41)) // 100
    net = _round_div(quantity * price, 1000)
    tax_bp = TAX_BP[plan.pick("irow:tax", r, len(TAX_BP))]
    tax = _round_div(net * tax_bp, 10_000)
    return {
        "_parent": parent,
        "_counts": counts,
        "_serial": r,
        "ID": ids(plan, "IA_INVOICE_ROW", r),
        "INVOICE_ID": ids(plan, "IA_INVOICE", s[parent]),
        "ROW_NUMBER": k + 1,
        "PRODUCT_CODE": take([p[0] for p in PRODUCTS], product),
        "DESCRIPTION": take([p[1] for p in PRODUCTS], product),
        "QUANTITY": quantity,
        "UNIT_PRICE": price,
        "NET_SUM": net,
        "TAX_PERCENT": tax_bp,
        "TAX_SUM": tax,
        "GROSS_SUM": net + tax,
    }


def _round_div(numerator: np.ndarray, denominator) -> np.ndarray:
    """Half away from zero, in integers."""
    half = denominator // 2
    return np.sign(numerator) * ((np.abs(numerator) + half) // denominator)


def invoices(plan: Plan, s: np.ndarray, version: np.ndarray) -> tuple[dict, dict]:
    """(IA_INVOICE columns, IA_INVOICE_ROW columns) for invoices `s` as of `version`."""
    created = plan.invoices.created_in(s)
    supplier = plan.pick("inv:sup", s, plan.suppliers.count_through(created))
    org = plan.pick("inv:org", s, plan.orgs.count_through(created))
    comp = company(org)
    has_order = plan.pick("inv:hasord", s, 10) < 7
    order = plan.pick("inv:ord", s, plan.orders.count_through(created))
    sign = np.where(plan.pick("inv:credit", s, 40) == 0, -1, 1)
    rows = invoice_rows(plan, s, sign)
    net = group_sum(rows["NET_SUM"], rows["_counts"])
    tax = group_sum(rows["TAX_SUM"], rows["_counts"])
    created_at = plan.created("inv", s, created)
    rows["CREATION_TIME"] = created_at[rows["_parent"]]
    numbers = null_where(order_number(order), ~has_order)
    rows["ORDER_NUMBER"] = numbers.gather(pl.Series(rows["_parent"]))
    invoice_date = dates(created_at) - plan.pick("inv:idate", s, 10).astype("timedelta64[D]")
    due = invoice_date + payment_terms(plan, supplier).astype("timedelta64[D]")
    base = np.where(created == 0, plan.pick("inv:stage", s, 5), plan.pick("inv:stage", s, 2))
    stage = np.minimum(4, base + version - created)
    removed = (plan.pick("inv:rm", s, 40) == 0) & (version > created)
    paid_day = dates(plan.day(created + np.maximum(0, 4 - base))) - np.timedelta64(1, "D")
    payment = np.maximum(np.minimum(due, paid_day), invoice_date)
    removal_day = dates(plan.day(created + 1)) - np.timedelta64(1, "D")
    blocked = plan.pick("inv:block", s, 12, version) == 0
    currency = supplier_currency(plan, supplier)
    rate = pl.Series([EUR_RATE[c] for c in currency.to_list()]).to_numpy()
    comp_rate = np.array([EUR_RATE[c[2]] for c in COMPANIES])[comp]
    statuses = take(INVOICE_STATUSES + ["Removed"], np.where(removed, 5, stage))
    matching = take(["NotMatched", "PartiallyMatched", "Matched"], np.minimum(2, stage))
    header = {
        "ID": ids(plan, "IA_INVOICE", s),
        "INVOICE_NUMBER": "INV-" + pl.Series(200_000 + s).cast(pl.String),
        "INVOICE_TYPE": take(["Invoice", "CreditNote"], (sign < 0).astype(np.int64)),
        "SUPPLIER_ID": ids(plan, "ADM_SUPPLIER", supplier),
        "SUPPLIER_CODE": supplier_code(supplier),
        "SUPPLIER_NAME": supplier_name(plan, supplier),
        "COMPANY_ID": plan.prefix("COMPANY") + take([c[0] for c in COMPANIES], comp),
        "COMPANY_CODE": take([c[0] for c in COMPANIES], comp),
        "COMPANY_NAME": take([c[1] for c in COMPANIES], comp),
        "ORGANIZATION_ELEMENT_ID": ids(plan, "ADM_ORGANIZATION_ELEMENT", org),
        "ORGANIZATION_ELEMENT_CODE": org_code(org),
        "ORGANIZATION_ELEMENT_NAME": org_name(org),
        "NET_SUM": net,
        "TAX_SUM": tax,
        "GROSS_SUM": net + tax,
        "NET_SUM_COMP": _round_div(net * rate, comp_rate),
        "GROSS_SUM_COMP": _round_div((net + tax) * rate, comp_rate),
        "CURRENCY_CODE": currency,
        "INVOICE_DATE": invoice_date,
        "DUE_DATE": due,
        "VOUCHER_DATE": invoice_date + plan.pick("inv:vdate", s, 3).astype("timedelta64[D]"),
        "PAYMENT_DATE": null_where(payment, (stage < 4) | removed),
        "CREATION_TIME": created_at,
        "PROCESS_COMPLETED": ((stage >= 3) & ~removed).astype(np.int64),
        "STATUS": statuses,
        "MATCHING_STATUS": null_where(matching, ~has_order),
        "PAYMENT_BLOCK": (blocked & (stage < 4)).astype(np.int64),
        "DISPUTED": (plan.pick("inv:disp", s, 20, version) == 0).astype(np.int64),
        "REMOVAL_DATE": null_where(removal_day, ~removed),
        "TEXT1": null_where(take(TEXTS, plan.pick("inv:t1", s, len(TEXTS))), s % 2 == 1),
        "TEXT2": null_where("Cost pool " + pl.Series(s % 7).cast(pl.String), s % 5 != 0),
        "NUM1": null_where(plan.pick("inv:n1", s, 100_000), plan.pick("inv:n1?", s, 3) != 0),
        "DATE1": null_where(invoice_date + np.timedelta64(5, "D"), s % 4 != 0),
        "_serial": s,
        "_stage": stage,
        "_removed": removed,
        "_has_order": has_order,
        "_order": order,
        "_created": created,
    }
    return header, rows
