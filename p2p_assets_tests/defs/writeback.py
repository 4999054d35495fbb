"""What the write-back tests share: `p2p-assets` in its own process, a clean environment, and a
warehouse loaded from a small Basware sandbox tenant."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from p2p_assets.lib.warehouse import snapshots


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


SMALL_TENANT = {
    "P2P_SANDBOX_BASWARE_INVOICES": "40",
    "P2P_SANDBOX_BASWARE_INITIAL_DELTAS": "1",
    "P2P_SANDBOX_BASWARE_DELTA_INTERVAL_SECONDS": "0",
}


def load_basware_warehouse(root: Path) -> Path:
    """`p2p-assets sync basware` against a small sandbox tenant; returns the warehouse file."""
    result = cli(clean_env(root / "data", **SMALL_TENANT), "sync", "basware")
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "data" / "warehouse.duckdb"


def load_live_basware_warehouse(root: Path) -> Path:
    """The same tenant loaded in live mode, from a Basware sandbox served on loopback: the data
    a live write-back target may be sent (sandbox data never is)."""
    from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig

    config = BaswareSandboxConfig(invoices=40, initial_deltas=1)
    with BaswareSandbox(config, root / "vendor").serve() as url:
        env = clean_env(
            root / "data",
            BASWARE_API_URL=url,
            BASWARE_CLIENT_ID=config.client_id,
            BASWARE_CLIENT_SECRET=config.client_secret,
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


def working(data: Path) -> Path:
    """The pipeline's working file in `data` (created from the copied warehouse the first time):
    where a test changes the data the next run reads."""
    return snapshots.ensure_working(snapshots.layout(data / "warehouse.duckdb"))


def query(data: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()
