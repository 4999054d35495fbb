"""Which order an invoice bills, and what it bills of it.

An extract's invoice block and order block pair up by position: the invoice at position j of an
extract's new invoices may bill the order at position j of that extract's new orders, and no
other invoice ever bills that order. An order invoice bills the order's rows one to one (same
ROW_NUMBER, same product, at most the order price, the received quantity); rows beyond the
order's are freight and fees with products no order carries. Every row an invoice bills is
received, so the data PO-matches cleanly except for the problems `problems.py` plants.
"""

import numpy as np

from p2p_assets.sandbox.basware.plan import ORDER_ROWS_PER_ORDER, Plan


def position(sizes, serials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(creating extract, position within that extract's block) of each serial."""
    created = sizes.created_in(serials)
    start = np.where(created == 0, 0, sizes.initial + (created - 1) * sizes.per_delta)
    return created, serials - start


def _block_size(sizes, created: np.ndarray) -> np.ndarray:
    return np.where(created == 0, sizes.initial, sizes.per_delta)


def credit_sign(plan: Plan, s: np.ndarray) -> np.ndarray:
    return np.where(plan.pick("inv:credit", s, 40) == 0, -1, 1)


def may_bill(plan: Plan, s: np.ndarray) -> np.ndarray:
    """Invoices that carry an order number by their own draws (credit notes never do)."""
    created, j = position(plan.invoices, s)
    paired = j < _block_size(plan.orders, created)
    return paired & (credit_sign(plan, s) > 0) & (plan.pick("inv:hasord", s, 10) < 9)


def order_of(plan: Plan, s: np.ndarray) -> np.ndarray:
    """The order serial invoice `s` would bill (meaningful where `may_bill`)."""
    created, j = position(plan.invoices, s)
    start = np.where(created == 0, 0, plan.orders.initial + (created - 1) * plan.orders.per_delta)
    return start + j


def invoice_of(plan: Plan, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(invoice serial, paired?) of each order: the invoice at the same block position."""
    created, j = position(plan.orders, o)
    paired = j < _block_size(plan.invoices, created)
    start = np.where(
        created == 0, 0, plan.invoices.initial + (created - 1) * plan.invoices.per_delta
    )
    return start + j, paired


def order_row_layout(plan: Plan, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row counts, first row serial) of orders `o`."""
    return plan.children(
        "ord:rows", o, plan.orders, ORDER_ROWS_PER_ORDER, ORDER_ROWS_PER_ORDER * plan.orders.initial
    )


def invoice_row_layout(plan: Plan, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return plan.children("inv:rows", s, plan.invoices, 4, plan.initial_invoice_rows)


def ordered_quantity(plan: Plan, r: np.ndarray) -> np.ndarray:
    return (1 + plan.pick("orow:qty", r, 50)) * 1000


def received_quantity(plan: Plan, r: np.ndarray) -> np.ndarray:
    """What a receipt of order row `r` records: the ordered quantity, one unit short at times."""
    ordered = ordered_quantity(plan, r)
    short = plan.pick("gr:short", r, 5) == 0
    return np.where(short, np.maximum(ordered - 1000, 500), ordered)
