"""`p2p-assets sync basware` end to end, as a cron user runs it: a subprocess, the env-less sandbox,
a real Dagster instance in DAGSTER_HOME and a real DuckDB file."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from p2p_assets_tests.recovery_helpers import sandbox_for


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASWARE_", "DAGSTER_"))}
    env.update(
        P2P_DATA_DIR=str(tmp_path / "data"),
        P2P_SANDBOX_BASWARE_INVOICES="40",
        P2P_SANDBOX_BASWARE_INITIAL_DELTAS="2",
        P2P_SANDBOX_BASWARE_DELTA_INTERVAL_SECONDS="0",
    )
    env.pop("P2P_WAREHOUSE", None)
    return env


def _sync(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2p_assets.cli", "sync", "basware"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_sync_loads_everything_then_nothing_and_fails_loudly_on_a_corrupt_file(cli_env):
    first = _sync(cli_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 extract(s) waiting for export, 3 loaded and acknowledged, 0 failed" in first.stdout
    assert "IA_INVOICE " in first.stdout
    assert "DEBUG" not in first.stderr  # cron mail gets the summary, not Dagster's step log
    warehouse = Path(cli_env["P2P_DATA_DIR"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = con.execute(
            "SELECT count(*), count(acknowledged_at) FROM basware.extracts"
        ).fetchone()
    assert loaded == (3, 3)
    # Runs are recorded in the instance, so the UI shows them.
    runs = list((Path(cli_env["P2P_DATA_DIR"]) / "dagster" / "storage").iterdir())
    assert len([r for r in runs if r.is_dir()]) >= 4

    second = _sync(cli_env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 extract(s) waiting for export" in second.stdout
    assert "0 file(s) downloaded" in second.stdout

    sandbox = sandbox_for(cli_env)
    sandbox.publish_delta()
    index = sandbox.published_deltas()
    victim = next(f["fileName"] for f in sandbox.files(index) if f["tableName"] == "IA_INVOICE")
    sandbox.set_faults(corrupt_files={victim: "garbage"})
    broken = _sync(cli_env)
    assert broken.returncode == 1
    assert "1 failed" in broken.stdout
    assert victim in broken.stdout
    assert "BASWARE_CLIENT_SECRET" not in broken.stdout + broken.stderr
    assert "sandbox-secret" not in broken.stdout + broken.stderr

    sandbox.clear_faults()
    healed = _sync(cli_env)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "1 loaded and acknowledged, 0 failed" in healed.stdout
