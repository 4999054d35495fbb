"""What the write-back tests share: `p2p-assets` in its own process, a clean environment, and a
warehouse loaded from a small Basware sandbox tenant."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2p_assets.cli", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any vendor or p2p_assets setting, data in `data_dir`."""
    prefixes = ("BASWARE_", "VISMA_", "WORKSPACE365_", "BOSS_INSIGHTS_", "DAGSTER_", "P2P_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["P2P_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def load_basware_warehouse(root: Path) -> Path:
    """`p2p-assets sync basware` against a small sandbox tenant; returns the warehouse file."""
    env = clean_env(
        root / "data",
        P2P_SANDBOX_BASWARE_INVOICES="40",
        P2P_SANDBOX_BASWARE_INITIAL_DELTAS="1",
        P2P_SANDBOX_BASWARE_DELTA_INTERVAL_SECONDS="0",
    )
    result = cli(env, "sync", "basware")
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "data" / "warehouse.duckdb"


def fresh_data_dir(warehouse: Path, tmp_path: Path) -> Path:
    """A data dir holding a copy of `warehouse` and nothing else (no outbox, no sandbox state)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(warehouse, data / "warehouse.duckdb")
    return data


def query(data: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()
