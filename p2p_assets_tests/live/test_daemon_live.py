"""The UI's path in live mode: the Dagster daemon evaluates the sensors and launches the runs, in
processes of its own, against sandboxes served as their own processes. A new user who points
the product at them through environment variables gets the same warehouse this way as from
`p2p-assets sync`."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb

from p2p_assets_tests.live import basware, test_visma_live
from p2p_assets_tests.live.conftest import output

ROOT = Path(__file__).resolve().parents[2]
DAEMON = Path(sys.executable).parent / "dagster-daemon"
BASWARE_SMALL = {"invoices": "40", "initial_deltas": "1", "delta_interval_seconds": "0"}
# Two business types keep the run count (each run is a process of its own) small.
VISMA_TYPES = "134001,113003"


PUBLISH_JOB = "warehouse_publish_job"


def _failures(home: Path, runs: list[dg.DagsterRun]) -> list[tuple[str, str, list[str]]]:
    """Each failed run's job, selection and the error messages of its failed steps."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [
            (
                run.job_name,
                ", ".join(sorted(k.to_user_string() for k in run.asset_selection or ())),
                [
                    (entry.dagster_event.message or "") if entry.dagster_event else entry.message
                    for entry in instance.all_logs(
                        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
                    )
                ],
            )
            for run in runs
        ]


def _wait_for_runs(home: Path, expected: int, deadline: float) -> list[dg.RunRecord]:
    """Poll the instance until `expected` runs that load data ended (publishing runs come and go
    beside them)."""
    while True:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            records = instance.get_run_records()
        loads = [r for r in records if r.dagster_run.job_name != PUBLISH_JOB]
        ended = [r for r in loads if r.dagster_run.is_finished]
        if len(ended) >= expected and len(ended) == len(loads):
            return records
        assert time.monotonic() < deadline, [
            (r.dagster_run.job_name, r.dagster_run.status) for r in records
        ]
        time.sleep(2)


def _wait_for_published(check, deadline: float) -> None:
    """Until `check()` passes on the published warehouse users query (it fails meanwhile)."""
    while True:
        try:
            check()
            return
        except (AssertionError, duckdb.Error):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_the_daemon_and_the_sync_fill_the_same_warehouse_from_live_apis(serve, product) -> None:
    # Two tenants with the same data: loading one acknowledges its extracts and takes its files
    # off Visma's list, so each path gets its own.
    tenants = {
        path: (
            serve("basware", tenant=path, **BASWARE_SMALL),
            serve("visma", tenant=path, **test_visma_live.SMALL),
        )
        for path in ("headless", "ui")
    }

    def variables(path: str) -> dict[str, str]:
        served_basware, served_visma = tenants[path]
        return {
            **basware.live_env(served_basware),
            **test_visma_live.live_env(served_visma),
            "BASWARE_POLL_INTERVAL_SECONDS": "30",
            "VISMA_BUSINESS_TYPES": VISMA_TYPES,
        }

    headless = product("headless", **variables("headless"))
    synced = headless.sync("basware", "visma")
    assert synced.returncode == 0, output(synced)

    served_basware, served_visma = tenants["ui"]
    ui = product("ui", **variables("ui"))
    home = ui.data_dir / "dagster"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    # The daemon and its run workers log a lot: to a file, never a pipe nobody drains (a full
    # pipe blocks every process writing to it).
    log_path = ui.data_dir / "daemon.log"
    log_file = log_path.open("w")
    daemon = subprocess.Popen(
        [str(DAEMON), "run", "-m", "p2p_assets.definitions"],
        cwd=ROOT, env={**ui.env, "DAGSTER_HOME": str(home)},
        stdout=log_file, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # One run per Basware extract (2) and per Visma file (one per business type here), and
        # the table definition, materialised by automation because it is missing.
        records = _wait_for_runs(home, 2 + len(VISMA_TYPES.split(",")) + 1, time.monotonic() + 420)
        # What the runs committed reaches the file users query within a minute, by the daemon's
        # publish sensor (the loaded CI machine gets a margin).
        last_load = max(r.end_time or 0 for r in records if r.dagster_run.job_name != PUBLISH_JOB)
        _wait_for_published(
            lambda: (
                basware.assert_truth(ui, served_basware),
                test_visma_live.assert_truth(
                    ui, served_visma, {int(t) for t in VISMA_TYPES.split(",")}
                ),
            ),
            time.monotonic() + 90,
        )
        published_after = time.time() - last_load
        with dg.DagsterInstance.from_config(str(home)) as instance:
            records = instance.get_run_records()  # with the publish runs that made it so
    except AssertionError as exc:
        lines = [
            line
            for line in log_path.read_text().splitlines()
            if " - dagster - DEBUG - " not in line and "component_tree" not in line
        ]
        raise AssertionError(f"{exc}\n" + "\n".join(lines[-60:])) from None
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log_file.close()
    log = log_path.read_text()
    runs = [r.dagster_run for r in records]
    # (A publish run may still be going: it started after the last check passed.)
    failed = [r for r in runs if r.is_finished and r.status != dg.DagsterRunStatus.SUCCESS]
    assert not failed, _failures(home, failed)
    sensors = {r.tags.get("dagster/sensor_name") for r in runs}
    expected = {
        "basware_extracts_sensor",
        "visma_files_sensor",
        "basware_automation_sensor",
        "warehouse_publish_sensor",
    }
    # The marts follow the loads by automation, once its minute comes (and succeed: a mart
    # whose Visma tables are not loaded yet waits for them instead of failing).
    assert expected <= sensors <= expected | {"marts_automation_sensor"}, log[-3000:]
    assert published_after < 90, published_after

    for user, (served_basware, served_visma) in (
        (headless, tenants["headless"]),
        (ui, tenants["ui"]),
    ):
        basware.assert_truth(user, served_basware)
        test_visma_live.assert_truth(user, served_visma, {int(t) for t in VISMA_TYPES.split(",")})
    assert _row_counts(ui) == _row_counts(headless)


def _row_counts(user) -> dict[str, int]:
    tables = user.query("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL")
    return {
        f"{schema}.{table}": user.query(f'SELECT count(*) FROM {schema}."{table}"')[0][0]
        for schema, table in tables
    }
