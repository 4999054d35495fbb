"""The Basware and Visma sandboxes generate one company's data: the SEPA files pay Basware's
invoices, payroll books on Basware's cost centres, invoices bill their orders' received rows, and
the marts' rules (`linked_rules.py`) find exactly the problems `planted_problems()` names.

The warehouse is built here straight from the generators (current row per ID, as the loader
keeps it; Visma files through the product's own parser), without Dagster."""

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from p2p_assets.lib.visma.formats import parse_file
from p2p_assets.sandbox.basware import BaswareSandboxConfig
from p2p_assets.sandbox.basware.data import generate_extract
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.schema import table_columns
from p2p_assets.sandbox.planted import planted_problems
from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets_tests.sandbox.linked_rules import DUPLICATES, PO_MATCH, RECONCILIATION

# The module fixture `default_warehouse` is costly and its tests share it: they run on one xdist
# worker (`--dist loadgroup`), so it is built once.
pytestmark = pytest.mark.xdist_group("linked_data")

BASWARE = BaswareSandboxConfig()  # the default tenant: Initial and three Deltas
TABLES = ("IA_INVOICE", "IA_INVOICE_ROW", "IA_CODING_ROW", "OM_ORDER_DATA", "OM_ORDER_ROW",
          "OM_GOODS_RECEIPT", "ADM_SUPPLIER")  # fmt: skip
VISMA_TABLES = ("sepa_payments", "sepa_csv_payments", "journal_postings")


def _basware(con: duckdb.DuckDBPyConnection, config: BaswareSandboxConfig, through: int) -> None:
    plan = Plan(config)
    extracts = [generate_extract(plan, index) for index in range(through + 1)]
    con.execute("CREATE SCHEMA basware")
    for table in TABLES:
        frame = pl.concat([e[table] for e in extracts if table in e], how="vertical_relaxed")
        frame = frame.unique(subset="ID", keep="last", maintain_order=True)
        frame = frame.with_columns(
            (pl.col(c.name).cast(pl.Float64) / 10**c.scale).cast(pl.Decimal(18, c.scale))
            for c in table_columns(table, None, 0)
            if c.kind == "decimal"
        )
        con.register("frame", frame.to_arrow())
        con.execute(f"CREATE TABLE basware.{table.lower()} AS SELECT * FROM frame")
        con.unregister("frame")


def _visma(con: duckdb.DuckDBPyConnection, config: VismaSandboxConfig, state: Path) -> None:
    sandbox = VismaSandbox(config, state)
    parsed: dict[str, list[pa.Table]] = {t: [] for t in VISMA_TABLES}
    for row in sandbox.files():
        if row["business_type"] not in (113003, 134000, 134001):
            continue
        result = parse_file(
            Path(row["path"]), file_id=row["id"], file_name=row["name"],
            business_type_id=row["business_type"],
        )  # fmt: skip
        assert result is not None
        for name, table in result.tables.items():
            if name in parsed:
                parsed[name].append(table)
    con.execute("CREATE SCHEMA visma")
    for name, tables in parsed.items():
        con.register("frame", pa.concat_tables(tables))
        con.execute(f"CREATE TABLE visma.{name} AS SELECT * FROM frame")
        con.unregister("frame")


def _warehouse(
    tmp_path: Path, basware: BaswareSandboxConfig, through: int, visma: VismaSandboxConfig
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    _basware(con, basware, through)
    _visma(con, visma, tmp_path / f"visma-{through}")
    return con


def _problems(con: duckdb.DuckDBPyConnection) -> dict:
    po = con.execute(
        f"SELECT status, invoice_row_id FROM ({PO_MATCH}) WHERE status NOT IN "
        "('matched', 'no_order') ORDER BY 1, 2"
    ).fetchall()
    duplicates = con.execute(f"SELECT first_id, second_id FROM ({DUPLICATES})").fetchall()
    payments = con.execute(
        f"SELECT status, end_to_end_id, invoice_id FROM ({RECONCILIATION}) "
        "WHERE status <> 'matched' ORDER BY 1, 2"
    ).fetchall()
    return {"po": po, "duplicates": duplicates, "payments": payments}


def _expected(planted: dict) -> dict:
    mismatch, paid = planted["amount_mismatch"]
    return {
        "po": sorted(
            [
                ("not_received", planted["not_received"]),
                ("price_variance", planted["price_variance"]),
            ]
        ),  # fmt: skip
        "duplicates": [tuple(sorted(planted["duplicate_invoice"]))],
        "payments": [
            ("amount_mismatch", mismatch, paid),
            ("unknown_invoice", planted["unknown_invoice"], None),
        ],
    }


def _linked_visma(basware: BaswareSandboxConfig) -> VismaSandboxConfig:
    return VismaSandboxConfig(seed=basware.seed, spike_interval_seconds=0, basware=basware)


@pytest.fixture(scope="module")
def default_warehouse(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    visma = VismaSandboxConfig(spike_interval_seconds=0)  # linked to the same-seed default tenant
    return _warehouse(tmp_path_factory.mktemp("linked"), BASWARE, BASWARE.initial_deltas, visma)


def test_the_rules_find_exactly_the_planted_problems(default_warehouse):
    planted = planted_problems()
    assert set(planted) == {
        "duplicate_invoice", "amount_mismatch", "unknown_invoice", "price_variance",
        "not_received",
    }  # fmt: skip
    assert _problems(default_warehouse) == _expected(planted)


def test_transfers_pay_basware_invoices_to_their_suppliers(default_warehouse):
    con = default_warehouse
    transfers = con.execute(
        "SELECT count(*), count(DISTINCT end_to_end_id) FROM (SELECT end_to_end_id FROM "
        "visma.sepa_payments UNION ALL SELECT end_to_end_id FROM visma.sepa_csv_payments)"
    ).fetchone()
    assert transfers[0] == transfers[1] >= 20
    # every matched transfer: the supplier's name, its IBAN, the payment day, in EUR
    mismatched = con.execute(
        f"""SELECT r.end_to_end_id FROM ({RECONCILIATION}) r
        JOIN (SELECT end_to_end_id, creditor_name, requested_execution_date AS day
              FROM visma.sepa_payments UNION ALL SELECT end_to_end_id, creditor_name,
              execution_date FROM visma.sepa_csv_payments) t USING (end_to_end_id)
        JOIN basware.ia_invoice i ON i.ID = r.invoice_id
        WHERE r.status = 'matched'
            AND (t.creditor_name <> i.SUPPLIER_NAME OR t.day <> i.PAYMENT_DATE::DATE)"""
    ).fetchall()
    assert mismatched == []
    # EUR suppliers hold valid IBANs (ISO 13616 mod 97)
    ibans = [
        r[0]
        for r in con.execute(
            "SELECT BANK_ACCOUNT FROM basware.adm_supplier WHERE CURRENCY_CODE = 'EUR'"
        ).fetchall()
    ]
    assert ibans and all(_iban_valid(i) for i in ibans)


def _iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def test_payroll_books_on_basware_cost_centres_and_balances(default_warehouse):
    con = default_warehouse
    outside = con.execute(
        "SELECT DISTINCT cost_centre FROM visma.journal_postings WHERE cost_centre NOT IN "
        "(SELECT COST_CENTER_CODE FROM basware.ia_coding_row)"
    ).fetchall()
    assert outside == []
    assert con.execute("SELECT count(*) FROM visma.journal_postings").fetchone()[0] > 0
    unbalanced = con.execute(
        "SELECT journal FROM visma.journal_postings GROUP BY journal HAVING sum(amount) <> 0"
    ).fetchall()
    assert unbalanced == []


def test_order_invoices_bill_their_orders(default_warehouse):
    con = default_warehouse
    statuses = dict(con.execute(f"SELECT status, count(*) FROM ({PO_MATCH}) GROUP BY 1").fetchall())
    assert statuses["matched"] > 100
    credit_with_order = con.execute(
        "SELECT count(*) FROM basware.ia_invoice_row r JOIN basware.ia_invoice i "
        "ON i.ID = r.INVOICE_ID WHERE i.INVOICE_TYPE = 'CreditNote' AND r.ORDER_NUMBER IS NOT NULL"
    ).fetchone()[0]
    assert credit_with_order == 0
    billed_twice = con.execute(
        "SELECT ORDER_NUMBER FROM basware.ia_invoice_row WHERE ORDER_NUMBER IS NOT NULL "
        "GROUP BY 1 HAVING count(DISTINCT INVOICE_ID) > 1"
    ).fetchall()
    assert billed_twice == []


@pytest.mark.parametrize("through", [10, 25])
def test_later_deltas_keep_exactly_the_planted_problems(tmp_path: Path, through: int):
    """Deltas pay, remove and re-deliver invoices; none of it touches the payment days the SEPA
    files cover or a planted invoice."""
    con = _warehouse(tmp_path, BASWARE, through, _linked_visma(BASWARE))
    assert _problems(con) == _expected(planted_problems(BASWARE))
    duplicate = planted_problems(BASWARE)["duplicate_invoice"][0]
    assert con.execute(
        "SELECT PAYMENT_DATE, REMOVAL_DATE FROM basware.ia_invoice WHERE ID = ?", [duplicate]
    ).fetchone() == (None, None)


@pytest.mark.parametrize(
    "basware", [BaswareSandboxConfig(seed=3, invoices=200), BaswareSandboxConfig(seed=11)]
)
def test_another_tenant_plants_the_same_kinds_of_problems(tmp_path: Path, basware):
    con = _warehouse(tmp_path, basware, basware.initial_deltas, _linked_visma(basware))
    planted = planted_problems(basware)
    assert len(planted) == 5
    assert _problems(con) == _expected(planted)
