"""The Basware Data Access data sets and their tables, per tier, as the manual lists them
(basware-data-access-api.txt, "Insights Essentials Data Access contains an extract from the
following data sets ...").

The sandbox keeps its own list rather than import the client's, so the tiers it serves come from
the manual and not from what the client happens to expect.
"""

from typing import NamedTuple


class DataSet(NamedTuple):
    """One data set of the manual; `name` is how the sandbox names its zip files
    (`INVOICE_DATASET_0001.zip`) in the "dataset" zip layout."""

    name: str
    tables: tuple[str, ...]
    pro_only: bool = False


DATA_SETS: tuple[DataSet, ...] = (
    DataSet(
        "INVOICE",
        (
            "IA_INVOICE",
            "IA_INVOICE_ROW",
            "IA_CODING_ROW",
            "IA_INVOICE_ORDER_NUMBER",
            "IA_INVOICE_DELIVERY_NOTE",
        ),
    ),
    DataSet("USER", ("ADM_USER_DATA", "ADM_ORGANIZATION_ELEMENT")),
    DataSet("SUPPLIER", ("ADM_SUPPLIER",)),
    DataSet(
        "PURCHASE_ORDER", ("OM_ORDER_DATA", "OM_ORDER_ROW", "OM_GOODS_RECEIPT", "OM_CODING_ROW")
    ),
    DataSet("INVOICE_HISTORY", ("IA_ACTION_LOG",), pro_only=True),
    DataSet("PROCESS", ("PE_PROCESS_TASK",), pro_only=True),
)

ESSENTIALS_TABLES: tuple[str, ...] = tuple(
    table for data_set in DATA_SETS if not data_set.pro_only for table in data_set.tables
)
PRO_TABLES: tuple[str, ...] = tuple(
    table for data_set in DATA_SETS if data_set.pro_only for table in data_set.tables
)
ALL_TABLES: tuple[str, ...] = ESSENTIALS_TABLES + PRO_TABLES


def tier_tables(tier: str) -> tuple[str, ...]:
    """The tables an Insights Pro ("pro") or Insights Essentials ("essentials") tenant gets."""
    return ALL_TABLES if tier == "pro" else ESSENTIALS_TABLES


def tier_data_sets(tier: str) -> tuple[DataSet, ...]:
    return tuple(d for d in DATA_SETS if tier == "pro" or not d.pro_only)
