"""The Basware pipeline end to end: sandbox over loopback HTTP, a real DuckDB file, Dagster runs.

An Initial plus daily Deltas, loaded in order, then again, then out of order: the warehouse always
ends equal to the sandbox's ground truth, and every extract is acknowledged once its data is safe.
"""

from collections.abc import Iterator

import dagster as dg
import pytest

from p2p_assets_tests.conftest import vendor_variables
from p2p_assets_tests.defs.basware.helpers import (
    Tenant,
    assert_matches_truth,
    check_results,
    failure_text,
    serving,
    small_config,
)

# The module fixture `loaded_runs` is costly and its tests share it: they run on one xdist worker
# (`--dist loadgroup`), so it is built once.
pytestmark = pytest.mark.xdist_group("basware_pipeline")

# The asset checks of a Pro tenant: one uniqueness check per table, one per reference.
PRO_CHECKS = 14 + 11


@pytest.fixture(scope="module")
def loaded_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Tenant, list[dg.ExecuteInProcessResult]]]:
    """A Pro tenant whose Initial, first Delta and two more published Deltas were each run through
    `basware_extract_job` (asset checks included), in extract order."""
    root = tmp_path_factory.mktemp("loaded")
    with pytest.MonkeyPatch.context() as monkeypatch, dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("P2P_DATA_DIR", str(root / "data"))
        monkeypatch.setenv("P2P_WAREHOUSE", str(root / "warehouse.duckdb"))
        for name in vendor_variables():
            monkeypatch.delenv(name, raising=False)
        with serving(small_config(initial_deltas=1), root / "state", instance) as tenant:
            tenant.sandbox.publish_delta()
            tenant.sandbox.publish_delta()
            yield tenant, [tenant.run(i, checks=True) for i in tenant.extract_ids()]


@pytest.fixture
def loaded(loaded_runs: tuple[Tenant, list[dg.ExecuteInProcessResult]]) -> Tenant:
    return loaded_runs[0]


def test_initial_and_deltas_in_order_equal_the_truth(
    loaded_runs: tuple[Tenant, list[dg.ExecuteInProcessResult]],
):
    loaded, results = loaded_runs
    ids = loaded.extract_ids()
    assert len(ids) == len(results) == 4
    for result in results:
        assert result.success, failure_text(result)
        checks = check_results(result)
        assert len(checks) == PRO_CHECKS
        assert all(checks.values()), {name for name, ok in checks.items() if not ok}
    assert {t.lower() for t in loaded.tables()} <= loaded.warehouse_tables("basware")
    assert_matches_truth(loaded)
    assert set(loaded.statuses().values()) == {"Exported"}
    registry = loaded.query(
        "SELECT extract_id, extract_type, acknowledged_at IS NOT NULL, "
        "loaded_at <= acknowledged_at FROM basware.extracts ORDER BY extract_date"
    )
    assert registry == [
        (extract_id, "Initial" if index == 0 else "Delta", True, True)
        for index, extract_id in enumerate(ids)
    ]


def test_running_every_partition_again_changes_nothing_and_downloads_nothing(loaded: Tenant):
    before = loaded.snapshot()
    downloads = loaded.sandbox.download_counts()
    assert sum(downloads.values()) > 0
    for extract_id in loaded.extract_ids():
        result = loaded.run(extract_id)
        assert result.success, failure_text(result)
        files = result.asset_materializations_for_node("basware__extract_files")
        assert files[0].metadata["downloaded_now"].value == 0
    assert loaded.sandbox.download_counts() == downloads
    assert loaded.snapshot() == before
    assert_matches_truth(loaded)


def test_out_of_order_backfill_ends_at_the_truth(serve_tenant):
    tenant = serve_tenant(initial_deltas=3)
    ids = tenant.extract_ids()
    for index in (3, 1, 0, 2, 1):
        result = tenant.run(ids[index])
        assert result.success, failure_text(result)
    assert_matches_truth(tenant)
    history = tenant.query("SELECT count(DISTINCT _extract_id) FROM basware_history.ia_invoice")
    assert history == [(4,)]
    assert set(tenant.statuses().values()) == {"Exported"}
