"""Records of a table Basware adds to the extracts (the `add_tables` fault): whatever its name,
comments on invoices (`schema.ADDED_TABLE_COLUMNS`).

From its first extract on, each extract carries comments on about half of the invoices it
delivers, so every INVOICE_ID points to an IA_INVOICE record of the same extract. Comments are
never re-delivered; their ids are unique per extract and position, and every value is drawn from
the seed, so the same faults always give the same records.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware.data import typed_frame
from p2p_assets.sandbox.basware.documents import dates
from p2p_assets.sandbox.basware.masters import event_ids, take
from p2p_assets.sandbox.basware.plan import Plan

COMMENTS = [
    "Checked with the buyer",
    'Price differs from the order, "see e-mail"',
    "Credit note requested",
    "Kommentti: toimitus myöhässä",
]


def added_table(plan: Plan, table: str, extract: int, invoices: pl.DataFrame) -> pl.DataFrame:
    """The records of added table `table` in extract `extract`, given the IA_INVOICE records
    that extract delivers."""
    position = np.arange(invoices.height, dtype=np.int64) + extract * 10_000_000
    keep = plan.pick(f"added:{table}", position, 2) == 0
    chosen = position[keep]
    n = len(chosen)
    sign = np.where(plan.pick(f"added:{table}:sign", chosen, 5) == 0, -1, 1)
    back = (1 + plan.pick(f"added:{table}:day", chosen, 3)).astype("timedelta64[D]")
    seconds = 60 + plan.pick(f"added:{table}:time", chosen, 86_000)
    columns = {
        "ID": event_ids(plan, table, extract, n),
        "INVOICE_ID": invoices["ID"].filter(pl.Series(keep)),
        "COMMENT_TEXT": take(COMMENTS, plan.pick(f"added:{table}:text", chosen, len(COMMENTS))),
        "COMMENT_DATE": dates(plan.day(np.full(n, extract))) - back,
        "AMOUNT": sign * plan.pick(f"added:{table}:amount", chosen, 10_000_000),
        "CREATION_TIME": plan.day(np.full(n, extract)) - seconds.astype("timedelta64[s]"),
    }
    return typed_frame(plan, table, columns)
