"""A backfill of twenty extracts run by several processes at once, against one DuckDB file and one
Dagster instance (sqlite) whose pools allow one step at a time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

from p2p_assets_tests.defs.basware.helpers import PARTITIONS, assert_matches_truth

WORKERS = 3
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _run_span(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """From the run's first step start to its last step end."""
    times = [
        entry.timestamp
        for entry in instance.all_logs(
            run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
        )
    ]
    return min(times), max(times)


def _overlaps(intervals: list[tuple[float, float]]) -> int:
    ordered = sorted(intervals)
    return sum(1 for a, b in zip(ordered, ordered[1:], strict=False) if b[0] < a[1])


def test_concurrent_backfill_of_twenty_extracts(serve_tenant, data_env: Path):
    tenant = serve_tenant(invoices=60, initial_deltas=19)
    ids = tenant.extract_ids()
    assert len(ids) == 20
    home = data_env / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(PARTITIONS, ids)

        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "p2p_assets_tests.defs.basware.concurrent_worker",
                    tenant.url,
                    *ids[k::WORKERS],
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(WORKERS)
        ]
        outputs = [worker.communicate(timeout=600) for worker in workers]
        for worker, (_, stderr) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, stderr[-3000:]
            assert "WarehouseBusyError" not in stderr
            assert "Could not set lock" not in stderr
        results = [json.loads(line) for stdout, _ in outputs for line in stdout.splitlines()]
        assert sorted(r["extract_id"] for r in results) == sorted(ids)
        failures = [r["failure"] for r in results if not r["success"]]
        assert not failures, failures[0]

        runs = instance.get_runs()
        assert len(runs) == 20
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}

        # The runs really ran at the same time (each process had a run in flight while the others
        # did). Whether Dagster's pools also kept the writers apart is not asserted: the
        # warehouse connection waits for DuckDB's lock either way.
        spans = [_run_span(instance, run.run_id) for run in runs]
        assert _overlaps(spans) >= len(runs) // 4
    assert set(tenant.statuses().values()) == {"Exported"}
    assert_matches_truth(tenant)
