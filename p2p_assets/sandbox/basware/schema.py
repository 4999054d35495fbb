"""The columns the sandbox delivers per table, with their Oracle types, as the table definition
endpoint describes them.

Kinds derived from the Oracle type drive both file formatting and `truth()` typing: text
(NVARCHAR2), int (NUMBER(p)), decimal (NUMBER(p,s), generated as integers scaled by 10**s so no
value ever passes through binary floating point), date (DATE) and timestamp (TIMESTAMP).

A table added by the `add_tables` fault gets `ADDED_TABLE_COLUMNS` whatever its name: a comment
on an invoice, with one column of each kind.
"""

import re
from dataclasses import dataclass

from p2p_assets.sandbox.basware.config import BaswareFaults
from p2p_assets.sandbox.basware.tables import ALL_TABLES

EXAMPLE_ID = "0a1b2c3d000000000000000000000042"
_ID = ("ID", "NVARCHAR2(64)", "Unique identifier of the record", EXAMPLE_ID)
_CREATED = ("CREATION_TIME", "TIMESTAMP", "When the record was created", "27/03/2024, 14:03:11")

_COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    "IA_INVOICE": [
        _ID,
        ("INVOICE_NUMBER", "NVARCHAR2(64)", "Invoice number given by the supplier", "INV-204518"),
        ("INVOICE_TYPE", "NVARCHAR2(32)", "Invoice or credit note", "Invoice"),
        ("SUPPLIER_ID", "NVARCHAR2(64)", "ADM_SUPPLIER.ID of the supplier", EXAMPLE_ID),
        ("SUPPLIER_CODE", "NVARCHAR2(64)", "Supplier code in the ERP", "S10042"),
        ("SUPPLIER_NAME", "NVARCHAR2(255)", "Supplier name", "Nordic Paper Oy"),
        ("COMPANY_ID", "NVARCHAR2(64)", "Buying company identifier", EXAMPLE_ID),
        ("COMPANY_CODE", "NVARCHAR2(64)", "Buying company code", "FI01"),
        ("COMPANY_NAME", "NVARCHAR2(255)", "Buying company name", "Acme Finland Oy"),
        ("ORGANIZATION_ELEMENT_ID", "NVARCHAR2(64)", "ADM_ORGANIZATION_ELEMENT.ID", EXAMPLE_ID),
        ("ORGANIZATION_ELEMENT_CODE", "NVARCHAR2(64)", "Organization element code", "OE0003"),
        ("ORGANIZATION_ELEMENT_NAME", "NVARCHAR2(255)", "Organization element name", "Finance"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount in invoice currency", "1250.00"),
        ("TAX_SUM", "NUMBER(18,2)", "Tax amount in invoice currency", "300.00"),
        ("GROSS_SUM", "NUMBER(18,2)", "Gross amount in invoice currency", "1550.00"),
        ("NET_SUM_COMP", "NUMBER(18,2)", "Net amount in company currency", "1250.00"),
        ("GROSS_SUM_COMP", "NUMBER(18,2)", "Gross amount in company currency", "1550.00"),
        ("CURRENCY_CODE", "NVARCHAR2(3)", "Invoice currency", "EUR"),
        ("INVOICE_DATE", "DATE", "Invoice date", "21/03/2024"),
        ("DUE_DATE", "DATE", "Due date", "20/04/2024"),
        ("VOUCHER_DATE", "DATE", "Accounting date", "22/03/2024"),
        ("PAYMENT_DATE", "DATE", "Date the invoice was paid", "19/04/2024"),
        _CREATED,
        ("PROCESS_COMPLETED", "NUMBER(1)", "1 when processing is complete", "0"),
        ("STATUS", "NVARCHAR2(32)", "Processing status", "InApproval"),
        ("MATCHING_STATUS", "NVARCHAR2(32)", "Order matching status (order invoices)", "Matched"),
        ("PAYMENT_BLOCK", "NUMBER(1)", "1 when payment is blocked", "0"),
        ("DISPUTED", "NUMBER(1)", "1 when the invoice is disputed", "0"),
        ("REMOVAL_DATE", "DATE", "Date the invoice was removed", "02/04/2024"),
        ("TEXT1", "NVARCHAR2(255)", "Free text 1 (reference)", 'Ref: Q1, "urgent"'),
        ("TEXT2", "NVARCHAR2(255)", "Free text 2", "Project Alpha"),
        ("NUM1", "NUMBER(18,2)", "Free number 1", "12.50"),
        ("DATE1", "DATE", "Free date 1", "01/04/2024"),
    ],
    "IA_INVOICE_ROW": [
        _ID,
        ("INVOICE_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("ROW_NUMBER", "NUMBER(10)", "Row number within the invoice", "1"),
        ("PRODUCT_CODE", "NVARCHAR2(64)", "Product code", "P-1042"),
        ("DESCRIPTION", "NVARCHAR2(255)", "Row description", "Copy paper A4"),
        ("QUANTITY", "NUMBER(18,3)", "Quantity", "12.000"),
        ("UNIT_PRICE", "NUMBER(18,2)", "Unit price", "4.25"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount", "51.00"),
        ("TAX_PERCENT", "NUMBER(5,2)", "Tax percent", "24.00"),
        ("TAX_SUM", "NUMBER(18,2)", "Tax amount", "12.24"),
        ("GROSS_SUM", "NUMBER(18,2)", "Gross amount", "63.24"),
        ("ORDER_NUMBER", "NVARCHAR2(64)", "Purchase order number (order invoices)", "PO4500000042"),
        _CREATED,
    ],
    "IA_CODING_ROW": [
        _ID,
        ("INVOICE_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("INVOICE_ROW_ID", "NVARCHAR2(64)", "IA_INVOICE_ROW.ID", EXAMPLE_ID),
        ("CODING_ROW_NUMBER", "NUMBER(10)", "Coding row number", "1"),
        ("ACCOUNT_CODE", "NVARCHAR2(64)", "GL account", "4000"),
        ("ACCOUNT_NAME", "NVARCHAR2(255)", "GL account name", "Materials"),
        ("COST_CENTER_CODE", "NVARCHAR2(64)", "Cost center", "CC110"),
        ("PROJECT_CODE", "NVARCHAR2(64)", "Project", "PRJ-7"),
        ("TAX_CODE", "NVARCHAR2(16)", "Tax code", "V24"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount", "51.00"),
        ("TAX_SUM", "NUMBER(18,2)", "Tax amount", "12.24"),
        ("GROSS_SUM", "NUMBER(18,2)", "Gross amount", "63.24"),
        _CREATED,
    ],
    "IA_INVOICE_ORDER_NUMBER": [
        _ID,
        ("INVOICE_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("ORDER_NUMBER", "NVARCHAR2(64)", "OM_ORDER_DATA.ORDER_NUMBER", "PO4500000042"),
        _CREATED,
    ],
    "IA_INVOICE_DELIVERY_NOTE": [
        _ID,
        ("INVOICE_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("DELIVERY_NOTE_NUMBER", "NVARCHAR2(64)", "Delivery note number", "DN-88213"),
        ("DELIVERY_DATE", "DATE", "Delivery date", "18/03/2024"),
        _CREATED,
    ],
    "ADM_USER_DATA": [
        _ID,
        ("LOGIN_ACCOUNT", "NVARCHAR2(128)", "Login name", "anna.virtanen"),
        ("FIRST_NAME", "NVARCHAR2(128)", "First name", "Anna"),
        ("LAST_NAME", "NVARCHAR2(128)", "Last name", "Virtanen"),
        ("EMAIL", "NVARCHAR2(255)", "E-mail address", "anna.virtanen@example.com"),
        ("ORGANIZATION_ELEMENT_ID", "NVARCHAR2(64)", "ADM_ORGANIZATION_ELEMENT.ID", EXAMPLE_ID),
        ("LANGUAGE_CODE", "NVARCHAR2(8)", "User interface language", "fi-FI"),
        ("ACTIVE", "NUMBER(1)", "1 when the user is active", "1"),
        ("LAST_LOGIN_TIME", "TIMESTAMP", "Last login", "27/03/2024, 08:12:45"),
        _CREATED,
    ],
    "ADM_ORGANIZATION_ELEMENT": [
        _ID,
        ("CODE", "NVARCHAR2(64)", "Organization element code", "OE0003"),
        ("NAME", "NVARCHAR2(255)", "Organization element name", "Finance"),
        ("PARENT_ID", "NVARCHAR2(64)", "ADM_ORGANIZATION_ELEMENT.ID of the parent", EXAMPLE_ID),
        ("COMPANY_CODE", "NVARCHAR2(64)", "Company code", "FI01"),
        ("ACTIVE", "NUMBER(1)", "1 when active", "1"),
        _CREATED,
    ],
    "ADM_SUPPLIER": [
        _ID,
        ("SUPPLIER_CODE", "NVARCHAR2(64)", "Supplier code in the ERP", "S10042"),
        ("SUPPLIER_NAME", "NVARCHAR2(255)", "Supplier name", "Nordic Paper Oy"),
        ("VAT_NUMBER", "NVARCHAR2(32)", "VAT registration number", "FI12345678"),
        ("COUNTRY_CODE", "NVARCHAR2(2)", "Country", "FI"),
        ("CITY", "NVARCHAR2(128)", "City", "Tampere"),
        ("POSTAL_CODE", "NVARCHAR2(16)", "Postal code", "33100"),
        ("BANK_ACCOUNT", "NVARCHAR2(64)", "IBAN", "FI2112345600000785"),
        ("PAYMENT_TERM_DAYS", "NUMBER(10)", "Payment term in days", "30"),
        ("CURRENCY_CODE", "NVARCHAR2(3)", "Default currency", "EUR"),
        ("BLOCKED", "NUMBER(1)", "1 when the supplier is blocked for payment", "0"),
        _CREATED,
    ],
    "OM_ORDER_DATA": [
        _ID,
        ("ORDER_NUMBER", "NVARCHAR2(64)", "Purchase order number", "PO4500000042"),
        ("SUPPLIER_ID", "NVARCHAR2(64)", "ADM_SUPPLIER.ID", EXAMPLE_ID),
        ("SUPPLIER_CODE", "NVARCHAR2(64)", "Supplier code", "S10042"),
        ("SUPPLIER_NAME", "NVARCHAR2(255)", "Supplier name", "Nordic Paper Oy"),
        ("COMPANY_CODE", "NVARCHAR2(64)", "Company code", "FI01"),
        ("BUYER_USER_ID", "NVARCHAR2(64)", "ADM_USER_DATA.ID of the buyer", EXAMPLE_ID),
        ("ORDER_DATE", "DATE", "Order date", "10/03/2024"),
        ("DELIVERY_DATE", "DATE", "Requested delivery date", "24/03/2024"),
        ("CURRENCY_CODE", "NVARCHAR2(3)", "Order currency", "EUR"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount", "1250.00"),
        ("STATUS", "NVARCHAR2(32)", "Order status", "Open"),
        _CREATED,
    ],
    "OM_ORDER_ROW": [
        _ID,
        ("ORDER_ID", "NVARCHAR2(64)", "OM_ORDER_DATA.ID", EXAMPLE_ID),
        ("ROW_NUMBER", "NUMBER(10)", "Row number within the order", "1"),
        ("PRODUCT_CODE", "NVARCHAR2(64)", "Product code", "P-1042"),
        ("DESCRIPTION", "NVARCHAR2(255)", "Row description", "Copy paper A4"),
        ("QUANTITY", "NUMBER(18,3)", "Ordered quantity", "12.000"),
        ("UNIT", "NVARCHAR2(16)", "Unit of measure", "PCS"),
        ("UNIT_PRICE", "NUMBER(18,2)", "Unit price", "4.25"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount", "51.00"),
        _CREATED,
    ],
    "OM_GOODS_RECEIPT": [
        _ID,
        ("ORDER_ROW_ID", "NVARCHAR2(64)", "OM_ORDER_ROW.ID", EXAMPLE_ID),
        ("ORDER_ID", "NVARCHAR2(64)", "OM_ORDER_DATA.ID", EXAMPLE_ID),
        ("ORDER_NUMBER", "NVARCHAR2(64)", "Purchase order number", "PO4500000042"),
        ("RECEIPT_NUMBER", "NVARCHAR2(64)", "Goods receipt number", "GR5000000042"),
        ("RECEIVED_QUANTITY", "NUMBER(18,3)", "Received quantity", "12.000"),
        ("RECEIPT_DATE", "DATE", "Receipt date", "25/03/2024"),
        ("RECEIVED_BY_USER_ID", "NVARCHAR2(64)", "ADM_USER_DATA.ID", EXAMPLE_ID),
        _CREATED,
    ],
    "OM_CODING_ROW": [
        _ID,
        ("ORDER_ROW_ID", "NVARCHAR2(64)", "OM_ORDER_ROW.ID", EXAMPLE_ID),
        ("ORDER_ID", "NVARCHAR2(64)", "OM_ORDER_DATA.ID", EXAMPLE_ID),
        ("ACCOUNT_CODE", "NVARCHAR2(64)", "GL account", "4000"),
        ("COST_CENTER_CODE", "NVARCHAR2(64)", "Cost center", "CC110"),
        ("NET_SUM", "NUMBER(18,2)", "Net amount", "51.00"),
        _CREATED,
    ],
    "IA_ACTION_LOG": [
        _ID,
        ("DOCUMENT_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("DOCUMENT_TYPE", "NVARCHAR2(32)", "Document type", "Invoice"),
        ("ACTION_CODE", "NVARCHAR2(32)", "Action code", "APPROVE"),
        ("ACTION_NAME", "NVARCHAR2(128)", "Action name", "Approved"),
        ("USER_ID", "NVARCHAR2(64)", "ADM_USER_DATA.ID of the actor", EXAMPLE_ID),
        ("ACTION_TIME", "TIMESTAMP", "When the action happened", "27/03/2024, 09:41:07"),
        ("COMMENT_TEXT", "NVARCHAR2(2000)", "Comment", "OK, approved"),
    ],
    "PE_PROCESS_TASK": [
        _ID,
        ("DOCUMENT_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("TASK_TYPE", "NVARCHAR2(32)", "Task type", "Approve"),
        ("TASK_STATUS", "NVARCHAR2(32)", "Open or Completed", "Open"),
        ("ASSIGNED_USER_ID", "NVARCHAR2(64)", "ADM_USER_DATA.ID of the assignee", EXAMPLE_ID),
        ("CREATED_TIME", "TIMESTAMP", "When the task was created", "27/03/2024, 09:41:07"),
        ("COMPLETED_TIME", "TIMESTAMP", "When the task was completed", "28/03/2024, 11:02:00"),
        ("DUE_DATE", "DATE", "Task due date", "03/04/2024"),
    ],
}
assert set(_COLUMNS) == set(ALL_TABLES)

_NUMBER = re.compile(r"^NUMBER\((\d+)(?:,(\d+))?\)$")


@dataclass(frozen=True)
class Column:
    name: str
    oracle_type: str
    definition: str
    example: str

    @property
    def kind(self) -> str:
        """text | int | decimal | date | timestamp."""
        if self.oracle_type == "DATE":
            return "date"
        if self.oracle_type == "TIMESTAMP":
            return "timestamp"
        number = _NUMBER.match(self.oracle_type)
        if number:
            return "decimal" if number.group(2) and int(number.group(2)) > 0 else "int"
        return "text"

    @property
    def scale(self) -> int:
        number = _NUMBER.match(self.oracle_type)
        return int(number.group(2) or 0) if number else 0


COLUMNS: dict[str, tuple[Column, ...]] = {
    table: tuple(Column(*spec) for spec in specs) for table, specs in _COLUMNS.items()
}


ADDED_TABLE_COLUMNS: tuple[Column, ...] = tuple(
    Column(*spec)
    for spec in (
        _ID,
        ("INVOICE_ID", "NVARCHAR2(64)", "IA_INVOICE.ID", EXAMPLE_ID),
        ("COMMENT_TEXT", "NVARCHAR2(255)", "Comment on the invoice", "Checked with the buyer"),
        ("COMMENT_DATE", "DATE", "Date of the comment", "21/03/2024"),
        ("AMOUNT", "NUMBER(18,2)", "Amount the comment is about", "125.00"),
        _CREATED,
    )
)


def base_columns(table: str) -> tuple[Column, ...]:
    """The undrifted columns of a known table, or of a table added by the `add_tables` fault."""
    return COLUMNS.get(table, ADDED_TABLE_COLUMNS)


def drift_column(name: str) -> Column:
    """The type a drift-added column gets, guessed from its name as Basware names columns."""
    if name.endswith("_DATE") or re.fullmatch(r"DATE\d+", name):
        return Column(name, "DATE", "Added column (date)", "01/04/2024")
    if name.endswith("_TIME"):
        return Column(name, "TIMESTAMP", "Added column (time)", "01/04/2024, 12:00:00")
    if name.endswith(("_SUM", "_AMOUNT")) or re.fullmatch(r"NUM\d+", name):
        return Column(name, "NUMBER(18,2)", "Added column (amount)", "10.00")
    if name.endswith(("_COUNT", "_FLAG")):
        return Column(name, "NUMBER(10)", "Added column (count)", "1")
    return Column(name, "NVARCHAR2(255)", "Added column (text)", "value 1")


def table_columns(table: str, faults: BaswareFaults | None, extract_index: int) -> list[Column]:
    """Columns of `table` in files of extract `extract_index` under the current drift."""
    columns = list(base_columns(table))
    if faults is None:
        return columns
    added, dropped = faults.drift_for(table, extract_index)
    columns = [c for c in columns if c.name not in dropped]
    known = {c.name for c in columns}
    return columns + [drift_column(name) for name in added if name not in known]
