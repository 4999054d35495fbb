"""The marts built as a user builds them: `p2p-assets sync` in its own process against the
sandboxes, then the published warehouse read back. A mart that cannot be built fails with dbt's
message and keeps its previous table; the loads never wait for the marts."""

import shutil
from pathlib import Path

import pytest

from p2p_assets.defs.marts.project import PROJECT_DIR
from p2p_assets_tests.defs.marts.common import MARTS, rows
from p2p_assets_tests.defs.writeback import SMALL_TENANT, clean_env, cli

# The module fixture `small` is costly and its tests share it: they run on one xdist worker
# (`--dist loadgroup`), so it is built once.
pytestmark = pytest.mark.xdist_group("marts_build")


@pytest.fixture(scope="session")  # loadgroup may interleave other files: build it once
def small(tmp_path_factory) -> tuple[dict[str, str], Path]:
    """A small Basware tenant loaded, Visma not yet."""
    root = tmp_path_factory.mktemp("marts")
    env = clean_env(root / "data", **SMALL_TENANT, P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS="0")
    loaded = cli(env, "sync", "basware")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    return env, root / "data" / "warehouse.duckdb"


def test_a_missing_source_fails_its_marts_only_and_never_blocks_the_loads(small):
    env, warehouse = small
    first = cli(env, "sync", "marts")
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    # dbt's message names the table that is not there; the Basware-only marts are built.
    assert "FAILED dbt build of the marts failed" in out
    assert "payment_reconciliation" in out and "sepa_payments" in out
    built = {name for (name,) in rows(warehouse, "SELECT table_name FROM duckdb_tables() "
                                                 "WHERE schema_name = 'marts'")}  # fmt: skip
    assert {"invoices", "spend_by_supplier_month", "po_match"} <= built
    assert "payment_reconciliation" not in built
    # The Visma load is not held back by the failed marts; then every mart builds.
    visma = cli(env, "sync", "visma")
    assert visma.returncode == 0, visma.stdout + visma.stderr
    second = cli(env, "sync", "marts")
    assert second.returncode == 0, second.stdout + second.stderr
    for mart in MARTS:
        assert f"marts.{mart}" in second.stdout
    assert "Marts: " in second.stdout and "built in" in second.stdout


def test_bad_sql_fails_with_dbts_message_and_keeps_the_previous_mart(small, tmp_path):
    env, warehouse = small
    good = cli(env, "sync", "marts")
    assert "marts.po_match" in good.stdout, good.stdout + good.stderr
    before = rows(warehouse, "SELECT count(*), sum(invoiced_quantity) FROM marts.po_match")
    project = tmp_path / "dbt"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "po_match.sql"
    model.write_text(model.read_text().replace("r.PRODUCT_CODE AS", "r.NO_SUCH_COLUMN AS", 1))
    broken = cli({**env, "P2P_DBT_PROJECT_DIR": str(project)}, "sync", "marts")
    out = broken.stdout + broken.stderr
    assert broken.returncode == 1, out
    assert "model po_match error" in out and "NO_SUCH_COLUMN" in out
    assert rows(warehouse, "SELECT count(*), sum(invoiced_quantity) FROM marts.po_match") == before
    # The other marts were built as usual.
    assert "marts.invoices" in out
