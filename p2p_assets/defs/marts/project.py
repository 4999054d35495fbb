"""The dbt project of the marts (`p2p_assets/dbt/`) as Dagster sees it: its manifest, kept in
step with the project's files, and the translator that maps dbt nodes to our asset keys.

Dagster builds the marts' asset definitions from dbt's `manifest.json`. It is made by `dbt parse`
whenever a file of the project changed (models a user added included), at most once at a time
(a file lock: every process that loads the definitions may get here), and never touches the
warehouse (the profile points at `:memory:` while parsing).
"""

import hashlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)
from packaging import version

from p2p_assets.defs.basware.assets import EXTRACTS, table_key
from p2p_assets.defs.visma.assets import asset_key as visma_asset_key
from p2p_assets.lib.locks import file_lock

# Ours, or a copy of it with your own models: P2P_DBT_PROJECT_DIR (read when definitions load).
PROJECT_DIR = Path(
    os.environ.get("P2P_DBT_PROJECT_DIR") or Path(__file__).resolve().parents[2] / "dbt"
).resolve()
TARGET_DIR = PROJECT_DIR / "target"
MANIFEST = TARGET_DIR / "manifest.json"
STAMP = TARGET_DIR / "p2p_sources.sha256"
GROUP = "marts"
# The dbt executable of this interpreter's environment (runs need not have it on PATH).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "analyses", "snapshots")


def dbt_environment(warehouse: str, target: Path) -> dict[str, str]:
    """What every dbt invocation of ours runs with: the warehouse file, our profile, no
    network reporting, artifacts and logs in `target`."""
    return {
        **os.environ,
        "P2P_DBT_DUCKDB_PATH": warehouse,
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_PROJECT_DIR": str(PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
    }


def source_digest() -> str:
    """sha256 over the project's files (names and contents): what the manifest was made from."""
    digest = hashlib.sha256()
    paths = [PROJECT_DIR / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        paths.extend(sorted(p for p in (PROJECT_DIR / folder).rglob("*") if p.is_file()))
    for path in paths:
        if path.exists():
            digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class ManifestError(RuntimeError):
    pass


def ensure_manifest() -> Path:
    """`target/manifest.json`, made again by `dbt parse` when the project's files changed."""
    wanted = source_digest()
    if MANIFEST.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return MANIFEST
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    with file_lock(TARGET_DIR / "parse.lock"):
        if MANIFEST.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
            return MANIFEST
        done = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--no-use-colors"],
            cwd=PROJECT_DIR,
            env=dbt_environment(":memory:", TARGET_DIR),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            message = (done.stdout + done.stderr).strip() or f"exit {done.returncode}"
            raise ManifestError(f"dbt parse of {PROJECT_DIR} failed: {message[-4000:]}")
        STAMP.write_text(wanted + "\n")
    return MANIFEST


class MartsTranslator(DagsterDbtTranslator):
    """dbt models as `marts/<model>` in the `marts` group; sources as the assets that load them."""

    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            meta = dbt_resource_props.get("meta") or {}
            source_meta = dbt_resource_props.get("source_meta") or {}
            if "p2p_visma_business_type" in meta:
                return visma_asset_key(int(meta["p2p_visma_business_type"]))
            if source_meta.get("p2p_vendor") == "basware":
                if meta.get("p2p_asset") == "extracts":
                    return EXTRACTS
                return table_key(dbt_resource_props["name"].upper())
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([GROUP, dbt_resource_props["name"]])

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """A test that reports findings in the data (`meta.p2p.finding`, e.g. payments that do
        not reconcile) fails its check without failing the build: the marts are right, the
        data is not. Every other failing test (an invariant of ours) fails the build."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        test = manifest.get("nodes", {}).get(unique_id, {})
        meta = {**(test.get("meta") or {}), **((test.get("config") or {}).get("meta") or {})}
        if spec is not None and (meta.get("p2p") or {}).get("finding"):
            return spec._replace(blocking=False)
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        # `model` or `seed`: the automation tells the marts it waits for from the seeds, which
        # the marts op loads itself whenever they are missing from the warehouse.
        return {
            **super().get_tags(dbt_resource_props),
            DBT_NODE_TAG: dbt_resource_props["resource_type"],
        }

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        return MARTS_AUTOMATION


DBT_NODE_TAG = "p2p/dbt"

# A mart is rebuilt when the data it reads changed (a new extract or file loaded), its SQL
# changed, or it was never built; not while one of its inputs is still loading (a backfill's
# partitions are taken together), nor while it is being built, nor while a mart it reads was
# never built and is not requested with it (Visma's payroll loaded before Basware's first
# extract must not build the cost per cost centre without the spend it joins). Unlike `eager()`
# it does not wait for every partition of its partitioned inputs to exist.
MARTS_AUTOMATION = (
    (
        dg.AutomationCondition.newly_missing()
        | dg.AutomationCondition.any_deps_updated()
        | dg.AutomationCondition.code_version_changed()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.missing() & ~dg.AutomationCondition.will_be_requested()
    )
    .allow(dg.AssetSelection.tag(DBT_NODE_TAG, "model"))
    .with_label("a mart it reads is missing")
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after its inputs change")

project = DbtProject(project_dir=PROJECT_DIR, target_path=TARGET_DIR)


class DbtCli(DbtCliResource):
    """dagster-dbt's resource, told the dbt version instead of asking: the executable is this
    environment's dbt-core, so `dbt --version` (a second dbt start-up per build, ~4 s) is not
    needed."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_resource() -> DbtCliResource:
    """The `dbt` resource: our project and profile, this environment's dbt."""
    return DbtCli(
        project_dir=str(PROJECT_DIR), profiles_dir=str(PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
    )
