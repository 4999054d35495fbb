"""What the marts tests share: the six marts the issue names, and a read of the published
warehouse."""

from pathlib import Path

import duckdb

MARTS = (
    "invoices",
    "spend_by_supplier_month",
    "po_match",
    "duplicate_invoice_candidates",
    "payment_reconciliation",
    "cost_by_cost_center_month",
)


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()
