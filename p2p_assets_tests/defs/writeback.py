"""What the write-back tests share: `p2p-assets` in its own process, a clean environment, and a
warehouse loaded from a small Basware sandbox tenant, with the export views the write-back assets
read (dbt's `models/exports/`) built in it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from p2p_assets.defs.warehouse.exports import Export
from p2p_assets.lib.warehouse import snapshots
from p2p_assets_tests.shared import built_once


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


def build_exports(warehouse: Path) -> None:
    """dbt builds the export views in the working file of `warehouse`, which is then published:
    what a test expects to be sent is there before any write-back ran. (A `p2p-assets sync` of a
    write-back target in a fresh data dir builds them again: its Dagster instance never saw them
    built.)"""
    from p2p_assets.defs.marts.project import DBT_EXECUTABLE, PROJECT_DIR, dbt_environment

    where = snapshots.layout(warehouse)
    built = subprocess.run(
        [DBT_EXECUTABLE, "build", "--select", "path:models/exports", "--no-use-colors"],
        cwd=PROJECT_DIR,
        env=dbt_environment(str(snapshots.ensure_working(where)), warehouse.parent / "dbt-exports"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    snapshots.publish(where)


def load_basware_warehouse(root: Path) -> Path:
    """`p2p-assets sync basware` against a small sandbox tenant, and the export views built;
    returns the warehouse file."""
    result = cli(clean_env(root / "data", **SMALL_TENANT), "sync", "basware")
    assert result.returncode == 0, result.stdout + result.stderr
    build_exports(root / "data" / "warehouse.duckdb")
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
    build_exports(root / "data" / "warehouse.duckdb")
    return root / "data" / "warehouse.duckdb"


def shared_basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`load_basware_warehouse`'s warehouse, loaded once per session and shared by every module
    and worker (they copy it, see `fresh_data_dir`)."""
    return built_once(tmp_path_factory, "basware-warehouse", SMALL_TENANT, load_basware_warehouse)


def shared_live_basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`load_live_basware_warehouse`'s warehouse, loaded once per session and shared."""
    return built_once(
        tmp_path_factory, "live-basware-warehouse", {"invoices": 40}, load_live_basware_warehouse
    )


def fresh_data_dir(warehouse: Path, tmp_path: Path, *, exports_recorded: bool = True) -> Path:
    """A data dir holding a copy of `warehouse` (no outbox, no sandbox state) and, with
    `exports_recorded`, a Dagster instance that knows the export views in it were built (see
    `record_exports_built`); without, no instance at all."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(warehouse, data / "warehouse.duckdb")
    if exports_recorded:
        record_exports_built(data)
    return data


def record_exports_built(data: Path) -> None:
    """Tell the Dagster instance of the data dir `data` (`data/dagster`, with our dagster.yaml,
    as `p2p-assets` installs it) that the export models were materialised, as they are in a
    warehouse from `load_basware_warehouse`: a write-back sync then sends from the views that are
    there instead of building them again with dbt first (~30 s a sync), as it would for a user
    who built the marts before. Tests of that build use a data dir without this."""
    import dagster as dg

    from p2p_assets.cli import PROJECT_ROOT
    from p2p_assets.defs.marts.project import PROJECT_DIR
    from p2p_assets.defs.warehouse.exports import SCHEMA, Export

    home = data / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    models = sorted(p.stem for p in (PROJECT_DIR / "models" / SCHEMA).glob("*.sql"))
    assert models, PROJECT_DIR
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for model in models:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(Export(model).key, description="built by build_exports")
            )


def working(data: Path) -> Path:
    """The pipeline's working file in `data` (created from the copied warehouse the first time):
    where a test changes the data the next run reads."""
    return snapshots.ensure_working(snapshots.layout(data / "warehouse.duckdb"))


def query(data: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def record_keys(data: Path, export: Export) -> list[str]:
    """The records an export view holds now in the published warehouse, as the write-back reads
    them (ordered by `record_key`)."""
    return [row[0] for row in query(data, f"SELECT record_key FROM {export.relation} ORDER BY 1")]
