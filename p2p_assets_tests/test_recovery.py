"""A sync killed at any point is recovered by the next one, and a sync waiting for a pool slot
says so, gives up when told, and stops on a signal: real `p2p-assets sync basware` processes,
a real instance in `{P2P_DATA_DIR}/dagster` and a real DuckDB file."""

import os
import shutil
import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

from p2p_assets.cli import PROJECT_ROOT
from p2p_assets.defs.operations.recovery import IN_PROGRESS
from p2p_assets.defs.operations.sensors import abandoned_runs_sensor
from p2p_assets.lib.warehouse import snapshots
from p2p_assets.sandbox.basware.config import FailRule
from p2p_assets_tests.defs.basware.helpers import Tenant, truth_mismatches
from p2p_assets_tests.recovery_helpers import (
    HOLDER_JOB,
    Holder,
    Sync,
    sandbox_for,
    stop_all,
    wait_for,
)

EXTRACT_JOB = "basware_extract_job"
DEFINITION_JOB = "basware_table_definition_job"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A small tenant (one extract) in a private data dir, whose Dagster home has our
    dagster.yaml (pools of one slot) from the start, as the sync installs it."""
    skip = ("BASWARE_", "DAGSTER_", "P2P_WAREHOUSE", "P2P_POOL_WAIT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    data = tmp_path / "data"
    env.update(
        P2P_DATA_DIR=str(data),
        P2P_SANDBOX_BASWARE_INVOICES="10",
        P2P_SANDBOX_BASWARE_INITIAL_DELTAS="0",
        P2P_SANDBOX_BASWARE_DELTA_INTERVAL_SECONDS="0",
        DAGSTER_HOME=str(data / "dagster"),
    )
    (data / "dagster").mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", data / "dagster" / "dagster.yaml")
    monkeypatch.setenv("P2P_DATA_DIR", str(data))  # where the truth helpers find the warehouse
    monkeypatch.delenv("P2P_WAREHOUSE", raising=False)
    return env


@pytest.fixture(autouse=True)
def _no_process_left_behind():
    yield
    stop_all()


@pytest.fixture
def instance(env: dict[str, str]):
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        yield instance


def started_step(instance: dg.DagsterInstance, job: str, step: str) -> str | None:
    """The id of a run of `job` in progress whose `step` has started."""
    for run in instance.get_runs(dg.RunsFilter(job_name=job, statuses=IN_PROGRESS)):
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START)
        if any(r.event_log_entry.step_key == step for r in records.records):
            return run.run_id
    return None


def holders(instance: dg.DagsterInstance, pool: str) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(pool)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def assert_abandoned(instance: dg.DagsterInstance, run_id: str, pool: str) -> None:
    """What the kill left behind: the run still in progress, holding its slot."""
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    assert run_id in holders(instance, pool)


def assert_recovered(env: dict[str, str], instance: dg.DagsterInstance) -> None:
    """The next sync completes; the warehouse equals the truth; nothing is left in progress and
    no slot is claimed."""
    code, output = Sync(env).finish()
    assert code == 0, output
    assert "Recovered run" in output
    sandbox = sandbox_for(env)
    tenant = Tenant(sandbox=sandbox, url="", instance=instance)
    problems = truth_mismatches(tenant)
    assert not problems, "\n".join(problems[:10])
    acknowledged = tenant.query("SELECT count(acknowledged_at) FROM basware.extracts")
    assert acknowledged == [(len(sandbox.extracts()),)]
    assert not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    storage = instance.event_log_storage
    for pool in storage.get_concurrency_keys():
        assert not holders(instance, pool), pool


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    event = records[0].event_log_entry.dagster_event if records else None
    return (event.message or "") if event else ""


def test_kill_while_downloading(env, instance):
    sandbox = sandbox_for(env)
    extract_id = sandbox.extracts()[0]["id"]
    third = sandbox.files(0)[2]["fileName"]
    # The third file answers 503 with Retry-After 60: the sync sleeps in the middle of landing.
    path = f"/v1/dataExtracts/{extract_id}/files/{third}"
    sandbox.set_faults(fail_next=(FailRule(status=503, retry_after=60, path_prefix=path),))
    sync = Sync(env)
    wait_for(lambda: not sandbox.faults().fail_next, 60, "the third download to be refused")
    sync.kill()
    sync.finish()
    landed = Path(env["P2P_DATA_DIR"]) / "landing" / "basware" / extract_id
    assert len(list(landed.glob("*.json.gz"))) == 2
    run_id = started_step(instance, EXTRACT_JOB, "basware__extract_files")
    assert run_id is not None
    assert_abandoned(instance, run_id, "basware_api")

    assert_recovered(env, instance)
    assert "is gone" in failure_message(instance, run_id)


def test_kill_while_loading(env, instance):
    sync = Sync(env)
    run_id = wait_for(
        lambda: started_step(instance, EXTRACT_JOB, "basware_tables"), 90, "the load", every=0.02
    )
    time.sleep(0.3)  # into the transaction (the load takes about a second)
    sync.kill()
    sync.finish()
    successes = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS)
    assert "basware_tables" not in {r.event_log_entry.step_key for r in successes.records}
    assert_abandoned(instance, run_id, "duckdb")

    assert_recovered(env, instance)


def test_kill_while_waiting_for_the_warehouse(env, instance, tmp_path):
    # Another writer of ours holding the working file (users' sessions hold only the snapshot).
    warehouse = snapshots.layout(Path(env["P2P_DATA_DIR"]) / "warehouse.duckdb").working
    warehouse.parent.mkdir(parents=True)
    holder = Holder(env, "hold-warehouse", str(warehouse), tmp_path / "warehouse.ready")
    try:
        code, output = Sync(env, P2P_WAREHOUSE_WAIT_SECONDS="1").finish()
        assert code == 1, output
        assert f"DuckDB warehouse {warehouse} stayed locked by PID {holder.pid}" in output
        assert "P2P_WAREHOUSE_WAIT_SECONDS" in output

        sync = Sync(env)
        step = "basware__table_definition.basware_table_definition_write"  # the DuckDB write
        run_id = wait_for(lambda: started_step(instance, DEFINITION_JOB, step), 60, "the wait")
        time.sleep(1)
        sync.kill()
        sync.finish()
        assert_abandoned(instance, run_id, "duckdb")
    finally:
        holder.kill()

    assert_recovered(env, instance)


def test_a_sync_waits_for_a_live_holder_says_so_gives_up_and_stops(env, instance, tmp_path):
    holder = Holder(env, "hold-slot", "duckdb", tmp_path / "slot.ready")
    try:
        (holder_run,) = holders(instance, "duckdb")
        code, output = Sync(env, P2P_POOL_WAIT_SECONDS="5").finish()
        assert code == 1, output
        gave_up = "gave up waiting for pool duckdb after 5 s (P2P_POOL_WAIT_SECONDS): held by run"
        assert gave_up in output
        assert f"job {HOLDER_JOB}" in output and f"pid {holder.pid}" in output

        waiting = Sync(env)
        line = waiting.read_until("waiting for pool duckdb (limit 1): held by run", 40)
        assert f"{holder_run[:8]} (job {HOLDER_JOB}" in line and f"pid {holder.pid}" in line
        started = time.monotonic()
        waiting.kill(signal.SIGTERM)
        code, output = waiting.finish(timeout=10)
        assert time.monotonic() - started < 10
        assert code == 143
        assert "stopped by signal SIGTERM while waiting for pool duckdb" in output
        assert holders(instance, "duckdb") == {holder_run}

        going_on = Sync(env)
        time.sleep(6)  # long enough to start and wait: no run of its own exists yet
        assert not instance.get_runs(dg.RunsFilter(job_name=DEFINITION_JOB))
    finally:
        holder.kill()
    code, output = going_on.finish()
    assert code == 0, output
    assert f"Recovered run {holder_run[:8]} (job {HOLDER_JOB}): marked failed: process" in output
    assert "is gone" in failure_message(instance, holder_run)
    assert not truth_mismatches(Tenant(sandbox=sandbox_for(env), url="", instance=instance))


def test_a_signal_stops_a_run_waiting_inside_dagster(env, instance, tmp_path):
    """The holder takes `duckdb` while the sync downloads, so its run's load step waits for the
    slot inside Dagster, where only the watchdog can act on a signal."""
    sandbox = sandbox_for(env)
    extract_id = sandbox.extracts()[0]["id"]
    path = f"/v1/dataExtracts/{extract_id}/getFile"
    sandbox.set_faults(fail_next=(FailRule(status=503, retry_after=10, path_prefix=path),))
    sync = Sync(env)
    wait_for(lambda: not sandbox.faults().fail_next, 60, "the download to be refused")
    holder = Holder(env, "hold-slot", "duckdb", tmp_path / "slot.ready")
    try:
        (holder_run,) = holders(instance, "duckdb")
        waiting = wait_for(lambda: holders(instance, "duckdb") - {holder_run}, 60, "the claim")
        sync.kill(signal.SIGTERM)
        code, output = sync.finish(timeout=10)
        assert code == 143, output
        (run_id,) = waiting
        message = failure_message(instance, run_id)
        assert message == "stopped by signal SIGTERM while waiting for pool duckdb"
        assert holders(instance, "duckdb") == {holder_run}
        assert not holders(instance, "basware_api")
    finally:
        holder.kill()
    assert_recovered(env, instance)


def test_the_sensor_frees_what_dead_runs_hold(env, instance, tmp_path):
    holder = Holder(env, "hold-slot", "duckdb", tmp_path / "slot.ready")
    holder.kill()
    (dead_run,) = holders(instance, "duckdb")
    instance.event_log_storage.claim_concurrency_slot("visma_api", "no-such-run", "a_step")

    result = abandoned_runs_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert f"run {dead_run[:8]} (job {HOLDER_JOB}): marked failed: process {holder.pid}" in (
        result.skip_message or ""
    )
    assert "run no-such-: unknown to this Dagster instance" in (result.skip_message or "")
    run = instance.get_run_by_id(dead_run)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    assert not holders(instance, "duckdb") and not holders(instance, "visma_api")

    again = abandoned_runs_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == "no abandoned run and no orphaned pool slot"


def test_a_step_waiting_for_a_slot_sleeps_instead_of_spinning(instance):
    instance.event_log_storage.set_concurrency_slots("duckdb", 1)
    assert instance.event_log_storage.claim_concurrency_slot("duckdb", "other", "x").is_claimed
    run = instance.create_run_for_job(dg.GraphDefinition(name="g").to_job(name="waits"))
    with InstanceConcurrencyContext(instance, run) as context:
        assert not context.claim("duckdb", "my_step")
        assert context.interval_to_next_pending_claim_check() > 0
        time.sleep(1.2)  # past the first re-check time
        assert context.interval_to_next_pending_claim_check() == 0
