"""`warehouse/published` and its sensor: a publish when runs committed something new, batched."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p2p_assets.definitions import defs
from p2p_assets.defs.warehouse.publishing import PUBLISHED, warehouse_publish_sensor
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse


@pytest.fixture
def instance(data_env: Path):
    with dg.instance_for_test() as instance:
        yield instance


def _commit(rows: int) -> None:
    with DuckDBWarehouse().connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER)")
        con.execute("INSERT INTO t SELECT range FROM range(?)", [rows])


def _tick(instance: dg.DagsterInstance):
    result = warehouse_publish_sensor(dg.build_sensor_context(instance=instance))
    return result


def _publish(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("warehouse_publish_job").execute_in_process(instance=instance)


def _published_rows() -> int:
    path = DuckDBWarehouse().file
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM t").fetchone()[0]


def test_the_sensor_requests_a_publish_once_runs_committed_and_waits_the_interval(
    instance, monkeypatch
):
    skipped = _tick(instance)
    assert isinstance(skipped, dg.SkipReason) and "holds everything committed" in str(
        skipped.skip_message
    )
    _commit(5)
    requested = _tick(instance)
    assert isinstance(requested, dg.RunRequest)

    result = _publish(instance)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata["path"].value == str(DuckDBWarehouse().file)
    assert metadata["size_mb"].value > 0
    assert _published_rows() == 5
    assert "holds everything committed" in str(_tick(instance).skip_message)

    _commit(3)  # committed right after a publish: the next one waits for the interval
    waiting = _tick(instance)
    assert isinstance(waiting, dg.SkipReason) and "next publish at" in str(waiting.skip_message)
    assert _published_rows() == 5
    monkeypatch.setenv("P2P_PUBLISH_INTERVAL_SECONDS", "0")
    assert isinstance(_tick(instance), dg.RunRequest)
    assert _publish(instance).success
    assert _published_rows() == 8


def test_a_publish_with_nothing_new_copies_nothing_and_materialises_nothing(instance):
    _commit(2)
    assert _publish(instance).success
    stamp = DuckDBWarehouse().file.stat().st_mtime_ns
    again = _publish(instance)
    assert again.success and again.get_asset_materialization_events() == []
    assert DuckDBWarehouse().file.stat().st_mtime_ns == stamp
    assert instance.get_latest_materialization_event(PUBLISHED) is not None
