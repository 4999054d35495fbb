"""The marts find exactly what the sandboxes planted, and nothing else: the default Basware and
Visma sandboxes loaded with `p2p-assets sync` in its own process, the marts built, the published
warehouse read back and compared with `planted_problems()` (computed from the generators, not
from a warehouse). Also what a person sees: one line per mart, the failing reconciliation check,
the open problems as a table on the materialisation, and an explained break that stops counting."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from p2p_assets.defs.marts.project import PROJECT_DIR
from p2p_assets.sandbox.planted import planted_problems
from p2p_assets_tests.defs.marts.common import MARTS, rows
from p2p_assets_tests.defs.writeback import clean_env, cli

# The module fixture `loaded` is costly and its tests share it: they run on one xdist worker
# (`--dist loadgroup`), so it is built once.
pytestmark = pytest.mark.xdist_group("planted_problems")


@pytest.fixture(scope="session")  # loadgroup may interleave other files: build it once
def loaded(tmp_path_factory) -> tuple[dict[str, str], Path, str]:
    root = tmp_path_factory.mktemp("planted")
    env = clean_env(root / "data", P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS="0")
    result = cli(env, "sync", "basware", "visma", "marts")
    assert result.returncode == 0, result.stdout + result.stderr
    return env, root / "data" / "warehouse.duckdb", result.stdout


def test_every_planted_problem_is_found_and_nothing_else(loaded):
    _, warehouse, _ = loaded
    planted = planted_problems()
    assert set(planted) == {
        "duplicate_invoice", "amount_mismatch", "unknown_invoice", "price_variance", "not_received"
    }  # fmt: skip
    assert rows(
        warehouse,
        "SELECT invoice_id, duplicate_of_invoice_id FROM marts.duplicate_invoice_candidates",
    ) == [planted["duplicate_invoice"]]
    assert sorted(
        rows(warehouse, "SELECT match_status, invoice_row_id FROM marts.po_match WHERE is_problem")
    ) == sorted([("price_variance", planted["price_variance"]),
                 ("not_received", planted["not_received"])])  # fmt: skip
    mismatch_e2e, mismatch_invoice = planted["amount_mismatch"]
    assert sorted(
        rows(
            warehouse,
            "SELECT status, end_to_end_id, invoice_id FROM marts.payment_reconciliation "
            "WHERE is_problem",
        ),
        key=str,
    ) == sorted([("amount_mismatch", mismatch_e2e, mismatch_invoice),
                 ("unknown_invoice", planted["unknown_invoice"], None)], key=str)  # fmt: skip
    # The clean rest is really there: matched transfers, matched order rows, payroll costs.
    assert rows(warehouse, "SELECT count(*) FROM marts.payment_reconciliation "
                           "WHERE status = 'matched'")[0][0] >= 10  # fmt: skip
    assert rows(warehouse, "SELECT count(*) FROM marts.po_match "
                           "WHERE match_status = 'matched'")[0][0] >= 10  # fmt: skip
    both = "WHERE payroll_amount <> 0 AND ap_net_amount <> 0"
    assert rows(warehouse, f"SELECT count(*) FROM marts.cost_by_cost_center_month {both}")[0][0]


def test_the_invariants_hold(loaded):
    _, warehouse, _ = loaded
    # One row per invoice; spend adds up to the coding rows exactly; every transfer once.
    assert rows(warehouse, "SELECT count(*), count(DISTINCT invoice_id) FROM marts.invoices") == [
        rows(warehouse, "SELECT count(*), count(*) FROM basware.ia_invoice")[0]
    ]
    assert rows(
        warehouse, "SELECT sum(net_amount_invoice_currency) FROM marts.spend_by_supplier_month"
    ) == rows(
        warehouse,
        "SELECT sum(c.NET_SUM) FROM basware.ia_coding_row c JOIN basware.ia_invoice i "
        "ON i.ID = c.INVOICE_ID WHERE i.REMOVAL_DATE IS NULL "
        "AND coalesce(i.STATUS, '') NOT IN ('Removed', 'Cancelled', 'Rejected')",
    )
    transfers = rows(warehouse, "SELECT (SELECT count(*) FROM visma.sepa_payments) + "
                                "(SELECT count(*) FROM visma.sepa_csv_payments)")[0][0]  # fmt: skip
    assert transfers > 0
    assert rows(warehouse, "SELECT count(*), count(DISTINCT (transfer_source, file_id, position)) "
                           "FROM marts.payment_reconciliation WHERE file_id IS NOT NULL")  == [
        (transfers, transfers)
    ]  # fmt: skip


def test_sync_prints_a_line_per_mart_and_the_failing_check(loaded):
    _, _, out = loaded
    for mart in MARTS:
        assert f"  marts.{mart} " in out, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  marts.")}
    assert "2 open problem(s)" in lines["marts.po_match"]
    assert "1 open problem(s)" in lines["marts.duplicate_invoice_candidates"]
    assert "2 open problem(s)" in lines["marts.payment_reconciliation"]
    assert "CHECK FAILED marts.payment_reconciliation:payments_reconcile: 2 unexplained" in out
    assert "spend_equals_coding_total" not in out  # the invariants passed


def test_the_materialisation_shows_the_open_problems(loaded):
    env, _, _ = loaded
    home = Path(env["P2P_DATA_DIR"]) / "dagster"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["marts", "payment_reconciliation"])
        )
        metadata = event.asset_materialization.metadata
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [
                dg.AssetCheckKey(
                    dg.AssetKey(["marts", "payment_reconciliation"]), "payments_reconcile"
                )
            ]
        )
    assert metadata["open_problems"].value == 2
    table = metadata["open_problems_first_20"].value
    assert planted_problems()["unknown_invoice"] in table
    assert table.startswith("| status |")
    assert metadata["open_problem_amount"].value > 0
    assert metadata["dagster/row_count"].value > 10
    assert check


def test_an_explained_break_no_longer_fails_the_check(loaded, tmp_path):
    env, warehouse, _ = loaded
    project = tmp_path / "dbt"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    unknown = planted_problems()["unknown_invoice"]
    explanations = project / "seeds" / "reconciliation_explanations.csv"
    explanations.write_text(explanations.read_text() + f"{unknown},,Refund of a deposit\n")
    result = cli({**env, "P2P_DBT_PROJECT_DIR": str(project)}, "sync", "marts")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "payments_reconcile: 1 unexplained" in result.stdout
    assert rows(
        warehouse,
        f"SELECT status, explanation, is_problem FROM marts.payment_reconciliation "
        f"WHERE end_to_end_id = '{unknown}'",
    ) == [("unknown_invoice", "Refund of a deposit", False)]
