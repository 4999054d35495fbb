"""One write-back run per target from its plan to its record, now that the plan and the record run
in pool `duckdb` and only the send in `workspace365_api`: a sync whose target another live run
has planned sends nothing, and once that run has ended the next sync takes over. Real
`p2p-assets sync workspace365` processes against the Workspace 365 sandbox."""

from pathlib import Path

import dagster as dg
import pytest

from p2p_assets.defs.workspace365.assets import EXPORT, TARGET
from p2p_assets.lib.writeback.journal import Journal, journal_path
from p2p_assets.sandbox.workspace365 import Workspace365Sandbox, Workspace365SandboxConfig
from p2p_assets_tests.defs.writeback import (
    clean_env,
    cli,
    fresh_data_dir,
    record_keys,
    shared_basware_warehouse,
)


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_basware_warehouse(tmp_path_factory)


@dg.op
def sending() -> None:
    pass


@dg.job
def another_writeback_job() -> None:
    sending()


def test_a_target_another_live_run_planned_is_not_planned_again(
    basware_warehouse: Path, tmp_path: Path
) -> None:
    data = fresh_data_dir(basware_warehouse, tmp_path)  # with data/dagster and our dagster.yaml
    with dg.DagsterInstance.from_config(str(data / "dagster")) as instance:
        # A run that planned the target and is still sending (as a UI run would be): no
        # process tags, so recovery leaves it alone.
        holder = instance.create_run_for_job(
            another_writeback_job, status=dg.DagsterRunStatus.STARTED
        )
        with Journal(journal_path(data / "warehouse.duckdb")) as journal:
            journal.take_lease(TARGET, holder.run_id, ended=lambda run_id: False)

        refused = cli(clean_env(data), "sync", "workspace365")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"run {holder.run_id} planned it at" in refused.stdout
        assert "nothing was planned or sent" in refused.stdout
        state = data / "sandbox" / "workspace365"
        sandbox = Workspace365Sandbox(Workspace365SandboxConfig(), state)
        assert sandbox.records() == []

        instance.report_run_failed(holder)
        taken_over = cli(clean_env(data), "sync", "workspace365")
    assert taken_over.returncode == 0, taken_over.stdout + taken_over.stderr
    expected = record_keys(data, EXPORT)
    created = [r["record"]["Basware invoice id"] for r in sandbox.records()]
    assert sorted(created) == sorted(expected)
    with Journal(journal_path(data / "warehouse.duckdb")) as journal:
        journal.take_lease(TARGET, "a later run", ended=lambda run_id: False)  # given back
