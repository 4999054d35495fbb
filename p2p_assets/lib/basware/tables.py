"""The Basware Data Access tables we ingest, and how they refer to each other.

Shared by the loader, the asset checks and the sandbox, so that the references the checks verify are
the ones the sandbox data honours.
"""

from typing import NamedTuple

ESSENTIALS_TABLES: tuple[str, ...] = (
    "IA_INVOICE",
    "IA_INVOICE_ROW",
    "IA_CODING_ROW",
    "IA_INVOICE_ORDER_NUMBER",
    "IA_INVOICE_DELIVERY_NOTE",
    "ADM_USER_DATA",
    "ADM_ORGANIZATION_ELEMENT",
    "ADM_SUPPLIER",
    "OM_ORDER_DATA",
    "OM_ORDER_ROW",
    "OM_GOODS_RECEIPT",
    "OM_CODING_ROW",
)
PRO_TABLES: tuple[str, ...] = ("IA_ACTION_LOG", "PE_PROCESS_TASK")
ALL_TABLES: tuple[str, ...] = ESSENTIALS_TABLES + PRO_TABLES

KEY_COLUMN = "ID"
# Warehouse schemas: the current state of every table, and every delivered version of it.
CURRENT_SCHEMA = "basware"
HISTORY_SCHEMA = "basware_history"


class Reference(NamedTuple):
    """`child.column` holds an `ID` of `parent`."""

    child: str
    column: str
    parent: str


REFERENCES: tuple[Reference, ...] = (
    Reference("IA_INVOICE_ROW", "INVOICE_ID", "IA_INVOICE"),
    Reference("IA_CODING_ROW", "INVOICE_ID", "IA_INVOICE"),
    Reference("IA_INVOICE_ORDER_NUMBER", "INVOICE_ID", "IA_INVOICE"),
    Reference("IA_INVOICE_DELIVERY_NOTE", "INVOICE_ID", "IA_INVOICE"),
    Reference("IA_INVOICE", "SUPPLIER_ID", "ADM_SUPPLIER"),
    Reference("OM_ORDER_DATA", "SUPPLIER_ID", "ADM_SUPPLIER"),
    Reference("OM_ORDER_ROW", "ORDER_ID", "OM_ORDER_DATA"),
    Reference("OM_CODING_ROW", "ORDER_ROW_ID", "OM_ORDER_ROW"),
    Reference("OM_GOODS_RECEIPT", "ORDER_ROW_ID", "OM_ORDER_ROW"),
    Reference("IA_ACTION_LOG", "DOCUMENT_ID", "IA_INVOICE"),
    Reference("PE_PROCESS_TASK", "DOCUMENT_ID", "IA_INVOICE"),
)


TABLE_DESCRIPTIONS: dict[str, str] = {
    "IA_INVOICE": "Purchase invoices in Basware AP Automation: supplier, amounts, dates, status, "
    "matching status, payment block and dispute flags.",
    "IA_INVOICE_ROW": "Invoice lines: product, quantity, unit price and amounts per line.",
    "IA_CODING_ROW": "Invoice coding: how each invoice is booked to accounts, cost centres and "
    "other dimensions.",
    "IA_INVOICE_ORDER_NUMBER": "Purchase order numbers quoted on invoices (the link to orders).",
    "IA_INVOICE_DELIVERY_NOTE": "Delivery note numbers quoted on invoices.",
    "ADM_USER_DATA": "Basware users (approvers, reviewers, AP clerks).",
    "ADM_ORGANIZATION_ELEMENT": "The organisation tree users have access to.",
    "ADM_SUPPLIER": "Suppliers imported or added in Basware AP Automation.",
    "OM_ORDER_DATA": "Purchase order headers.",
    "OM_ORDER_ROW": "Purchase order lines.",
    "OM_GOODS_RECEIPT": "Goods receipts against purchase order lines.",
    "OM_CODING_ROW": "Coding of purchase order lines.",
    "IA_ACTION_LOG": "Invoice history: every action taken on an invoice during its life cycle "
    "(Insights Pro).",
    "PE_PROCESS_TASK": "Process tasks (approval and review steps) on invoices (Insights Pro).",
}
