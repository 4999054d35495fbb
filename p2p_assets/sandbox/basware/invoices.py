"""Invoices and their rows.

An invoice that carries an order number bills that order (`linking.py`): it comes from the
order's supplier and its first rows bill the order's rows. Amounts are integers in units of the
column's scale and header sums are exact sums of their rows. A document's static values depend
on its serial; its status values on (serial, version), the version being the extract that
delivers it.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware import linking, problems
from p2p_assets.sandbox.basware.documents import (
    INVOICED,
    PRODUCTS,
    TAX_BP,
    dates,
    group_sum,
    order_number,
    order_row_product,
    round_div,
)
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
from p2p_assets.sandbox.basware.plan import Plan, expand

INVOICE_STATUSES = ["Received", "InApproval", "Approved", "TransferredToPayment", "Paid"]
TEXTS = ["Q1 budget", 'Ref: "urgent"', "Project Alpha, phase 2", "Rahti / frakt", "Ü-Lieferung"]


def invoice_rows(plan: Plan, s: np.ndarray, sign: np.ndarray, order: np.ndarray) -> dict:
    """Rows of invoices `s`; `order` is the order serial each bills, -1 for none."""
    counts, offsets = linking.invoice_row_layout(plan, s)
    parent, r, k = expand(counts, offsets)
    planted = problems.planted(plan.config)
    draw = r.copy()  # the duplicate draws its original's rows, so its amounts are the same
    if planted.duplicate != problems.NONE:
        copies = s[parent] == planted.duplicate
        first = linking.invoice_row_layout(plan, np.array([planted.original]))[1][0]
        draw[copies] = first + k[copies]
    product = plan.pick("irow:prod", draw, len(PRODUCTS))
    milli = plan.pick("irow:milli", draw, 1000)
    fraction = np.where(plan.pick("irow:frac", draw, 10) == 0, milli, 0)
    quantity = (1 + plan.pick("irow:qty", draw, 20)) * 1000 + fraction
    base_price = np.array([p[3] for p in INVOICED])[product]
    price = base_price * (80 + plan.pick("irow:price", draw, 41)) // 100

    ordered = order[parent] >= 0
    o_counts, o_offsets = linking.order_row_layout(plan, np.maximum(order, 0))
    bills = ordered & (k < o_counts[parent])
    o_row = (o_offsets[parent] + k)[bills]
    o_product, o_price = order_row_product(plan, o_row)
    product[bills] = o_product
    quantity[bills] = linking.received_quantity(plan, o_row)
    price[bills] = o_price * (95 + plan.pick("irow:disc", r[bills], 6)) // 100
    if planted.price_variance != problems.NONE:
        over = bills[bills] & (s[parent[bills]] == planted.price_variance) & (k[bills] == 0)
        price[np.flatnonzero(bills)[over]] = o_price[over] * 105 // 100 + 1
    fee = ordered & ~bills
    product[fee] = len(PRODUCTS) + plan.pick("irow:fee", r[fee], len(INVOICED) - len(PRODUCTS))
    quantity[fee] = 1000
    price[fee] = np.array([p[3] for p in INVOICED])[product[fee]]

    quantity = sign[parent] * quantity
    net = round_div(quantity * price, 1000)
    tax_bp = TAX_BP[plan.pick("irow:tax", draw, len(TAX_BP))]
    tax = round_div(net * tax_bp, 10_000)
    return {
        "_parent": parent,
        "_counts": counts,
        "_serial": r,
        "ID": ids(plan, "IA_INVOICE_ROW", r),
        "INVOICE_ID": ids(plan, "IA_INVOICE", s[parent]),
        "ROW_NUMBER": k + 1,
        "PRODUCT_CODE": take([p[0] for p in INVOICED], product),
        "DESCRIPTION": take([p[1] for p in INVOICED], product),
        "QUANTITY": quantity,
        "UNIT_PRICE": price,
        "NET_SUM": net,
        "TAX_PERCENT": tax_bp,
        "TAX_SUM": tax,
        "GROSS_SUM": net + tax,
    }


def invoices(plan: Plan, s: np.ndarray, version: np.ndarray) -> tuple[dict, dict]:
    """(IA_INVOICE columns, IA_INVOICE_ROW columns) for invoices `s` as of `version`."""
    planted = problems.planted(plan.config)
    created = plan.invoices.created_in(s)
    has_order = linking.may_bill(plan, s)
    order = linking.order_of(plan, s)
    supplier = plan.pick("inv:sup", s, plan.suppliers.count_through(created))
    # An order invoice comes from the order's supplier (the order is of the same extract).
    ordered_from = plan.pick("ord:sup", order, plan.suppliers.count_through(created))
    supplier = np.where(has_order, ordered_from, supplier)
    duplicate = s == planted.duplicate
    if duplicate.any():
        supplier[duplicate] = plan.pick(
            "inv:sup",
            np.array([planted.original]),
            plan.suppliers.count_through(np.zeros(1, np.int64)),
        )[0]
    org = plan.pick("inv:org", s, plan.orgs.count_through(created))
    comp = company(org)
    sign = linking.credit_sign(plan, s)
    rows = invoice_rows(plan, s, sign, np.where(has_order, order, -1))
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
    held = np.isin(s, planted.held())
    stage = np.where(held, np.minimum(stage, 1), stage)
    # Only invoices not yet paid when first delivered are ever removed: a paid invoice stays.
    removable = (plan.pick("inv:rm", s, 40) == 0) & (base < 4) & ~np.isin(s, planted.kept())
    removed = removable & (version > created)
    paid_day = dates(plan.day(created + np.maximum(0, 4 - base))) - np.timedelta64(1, "D")
    # Paid on arrival (the Initial's older invoices): by the due date. Paid later: not before
    # the extract that created it, so a Delta never adds a payment before its own day.
    payment = np.where(
        (created == 0) & (base >= 4),
        np.maximum(np.minimum(due, paid_day), invoice_date),
        np.maximum(np.minimum(due, paid_day), dates(plan.day(created))),
    )
    removal_day = dates(plan.day(created + 1)) - np.timedelta64(1, "D")
    blocked = plan.pick("inv:block", s, 12, version) == 0
    currency = supplier_currency(plan, supplier)
    rate = pl.Series([EUR_RATE[c] for c in currency.to_list()]).to_numpy()
    comp_rate = np.array([EUR_RATE[c[2]] for c in COMPANIES])[comp]
    statuses = take(INVOICE_STATUSES + ["Removed"], np.where(removed, 5, stage))
    matched = np.where(np.isin(s, [planted.price_variance, planted.not_received]), 0, stage)
    matching = take(["NotMatched", "PartiallyMatched", "Matched"], np.minimum(2, matched))
    number = "INV-" + pl.Series(200_000 + s).cast(pl.String)
    if duplicate.any():
        number = number.scatter(np.flatnonzero(duplicate), f"INV-{200_000 + planted.original}-2")
    header = {
        "ID": ids(plan, "IA_INVOICE", s),
        "INVOICE_NUMBER": number,
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
        "NET_SUM_COMP": round_div(net * rate, comp_rate),
        "GROSS_SUM_COMP": round_div((net + tax) * rate, comp_rate),
        "CURRENCY_CODE": currency,
        "INVOICE_DATE": invoice_date,
        "DUE_DATE": due,
        "VOUCHER_DATE": invoice_date + plan.pick("inv:vdate", s, 3).astype("timedelta64[D]"),
        # Credit notes are settled by offsetting, never paid out.
        "PAYMENT_DATE": null_where(payment, (stage < 4) | removed | (sign < 0)),
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
