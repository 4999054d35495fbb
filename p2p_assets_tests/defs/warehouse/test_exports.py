"""The export views the write-back assets read (dbt's `models/exports/`): a view that is not in
the warehouse fails the write-back's plan saying which relation and how to build it, before
anything is planned or sent; `p2p-assets sync <target>` builds it first."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p2p_assets.definitions import defs
from p2p_assets.defs.boss_insights.assets import PAYABLE_INVOICES, VENDORS
from p2p_assets.defs.warehouse.exports import Export
from p2p_assets.defs.workspace365.assets import EXPORT, TARGET
from p2p_assets.headless import failure_message
from p2p_assets.lib.warehouse.connection import table_columns
from p2p_assets_tests.conftest import vendor_variables
from p2p_assets_tests.defs.writeback import (
    clean_env,
    cli,
    fresh_data_dir,
    query,
    record_keys,
    shared_basware_warehouse,
    working,
)

WRITEBACKS = [
    ("workspace365_writeback_job", dg.AssetKey(["workspace365", "invoice_exceptions"]), EXPORT,
     TARGET),
    ("boss_insights_writeback_job", VENDORS.key, VENDORS.export, VENDORS.target),
    ("boss_insights_writeback_job", PAYABLE_INVOICES.key, PAYABLE_INVOICES.export,
     PAYABLE_INVOICES.target),
]  # fmt: skip


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_basware_warehouse(tmp_path_factory)


@pytest.fixture
def data_dir(basware_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The loaded warehouse (its export views built) in a fresh data dir this process uses, its
    Dagster instance never told they were built."""
    data = fresh_data_dir(basware_warehouse, tmp_path, exports_recorded=False)
    for name in vendor_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("P2P_WAREHOUSE", raising=False)
    monkeypatch.setenv("P2P_DATA_DIR", str(data))
    return data


def _drop(data: Path, export: Export) -> None:
    with duckdb.connect(str(working(data))) as con:
        con.execute(f"DROP VIEW {export.relation}")


def _outbox_rows(data: Path, target: str) -> int:
    with duckdb.connect(str(working(data)), read_only=True) as con:
        if not table_columns(con, "writeback", "outbox"):
            return 0
        sql = "SELECT count(*) FROM writeback.outbox WHERE target = ?"
        return con.execute(sql, [target]).fetchall()[0][0]


@pytest.mark.parametrize(("job", "asset", "export", "target"), WRITEBACKS,
                         ids=[e.model for _, _, e, _ in WRITEBACKS])  # fmt: skip
def test_a_missing_view_fails_the_plan_naming_it_and_how_to_build_it(
    data_dir: Path, job: str, asset: dg.AssetKey, export: Export, target: str
) -> None:
    _drop(data_dir, export)
    # The write-back asset alone, as a person materialises it in the UI (a sync would first
    # build the view, which it sees was never built).
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, asset_selection=[asset], raise_on_error=False
        )
    assert not result.success
    (failed,) = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failed.endswith("_plan")
    assert failure_message(result) == (
        f"{export.relation} is not in the warehouse (the marts were never built). It is the dbt "
        f"model p2p_assets/dbt/models/exports/{export.model}.sql, the asset marts/{export.model}: "
        f"build it with `p2p-assets sync marts`, or materialise marts/{export.model} in the "
        "Dagster UI, then run this again. Nothing was planned or sent."
    )
    assert "Catalog Error" not in failure_message(result)
    assert _outbox_rows(data_dir, target) == 0


def test_a_sync_builds_a_missing_view_before_the_writeback(data_dir: Path) -> None:
    expected = record_keys(data_dir, EXPORT)
    _drop(data_dir, EXPORT)
    synced = cli(clean_env(data_dir), "sync", "workspace365")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"{len(expected)} sent now" in synced.stdout
    assert record_keys(data_dir, EXPORT) == expected
    sql = (
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    )
    (kind,) = query(data_dir, sql, "exports", EXPORT.model)[0]
    assert kind == "VIEW"
