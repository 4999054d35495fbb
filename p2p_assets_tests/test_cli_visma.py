"""`p2p-assets sync visma` as a cron user runs it: separate processes, the env-less sandbox, a real
Dagster instance in DAGSTER_HOME and a real DuckDB file."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISMA_", "DAGSTER_"))}
    env.update(P2P_DATA_DIR=str(tmp_path / "data"), P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS="0")
    env.pop("P2P_WAREHOUSE", None)
    return env


def _sync(env: dict[str, str], *vendors: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2p_assets.cli", "sync", *vendors],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _sandbox(env: dict[str, str], **config) -> VismaSandbox:
    """The sandbox state the CLI's in-process sandbox serves from (seeded here when new)."""
    state_dir = Path(env["P2P_DATA_DIR"]) / "sandbox" / "visma"
    state_dir.mkdir(parents=True, exist_ok=True)
    return VismaSandbox(VismaSandboxConfig(spike_interval_seconds=0, **config), state_dir)


def test_two_syncs_in_separate_processes_cost_one_authentication_call(cli_env):
    sandbox = _sandbox(cli_env, files_per_type={134001: 2, 113003: 1})
    first = _sync(cli_env, "visma")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Visma: 3 new file(s), 3 loaded, 0 failed; 3 downloaded" in first.stdout
    sandbox.deliver(134001, 1)
    second = _sync(cli_env, "visma")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Visma: 1 new file(s), 1 loaded, 0 failed; 1 downloaded" in second.stdout
    # The token of the first process was cached on disk (owner-only) and reused by the second.
    assert sandbox.counters()["auth_calls"] == 1
    token_cache = Path(cli_env["P2P_DATA_DIR"]) / "visma" / "sandbox-token.json"
    assert token_cache.stat().st_mode & 0o077 == 0
    assert "access_token" not in first.stdout + first.stderr + second.stdout + second.stderr
    warehouse = Path(cli_env["P2P_DATA_DIR"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM visma.files").fetchone() == (4,)


def test_an_unsubscribed_business_type_fails_by_name_and_the_others_load(cli_env):
    _sandbox(cli_env, files_per_type={134001: 2})
    env = {**cli_env, "VISMA_BUSINESS_TYPES": "134001,8000"}
    result = _sync(env, "visma")
    assert result.returncode == 1
    assert "FAILED listing business type 8000" in result.stdout
    assert "403" in result.stdout
    assert "2 new file(s), 2 loaded, 0 failed" in result.stdout
    assert "sandbox-secret" not in result.stdout + result.stderr
