"""The marts: every model of the dbt project `p2p_assets/dbt/` as an asset `marts/<model>` in
the `marts` group, downstream of the Basware and Visma assets whose tables it reads; every dbt
test as an asset check.

One step in the `duckdb` pool (dbt writes the warehouse's working file; it calls no vendor):
`dbt build` of the selected models, their seeds and tests. dbt builds each table beside the old
one and swaps it in, so a model that fails (bad SQL, a missing source table) leaves the previous
mart as it was; the step then fails with dbt's message, after reporting the models that were
built. The raw loads never wait for a mart.

Each materialisation carries what a person would rather look at than query: the row count and,
for the marts that list problems (`meta.p2p.problems` in the model's YAML), how many are open,
their total and the first 20 as a table. The `payments_reconcile` check shows the unexplained
breaks' count and amount.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import SENSOR_NAME_TAG
from dagster_dbt import DbtCliResource, dbt_assets

from p2p_assets import live, settings
from p2p_assets.defs.marts.project import (
    DBT_EXECUTABLE,
    GROUP,
    PROJECT_DIR,
    MartsTranslator,
    dbt_environment,
    ensure_manifest,
    project,
)
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.marts import summaries

MANIFEST_PATH = ensure_manifest()
TRANSLATOR = MartsTranslator()
KEEP_RUN_TARGETS = 10
JOB = "marts_job"
RECONCILE_CHECK = "payments_reconcile"


def _run_target(run_id: str) -> Path:
    """A folder for this run's dbt artifacts and log; the last few runs' are kept."""
    root = settings.data_dir() / "dbt" / "runs"
    root.mkdir(parents=True, exist_ok=True)
    old = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - KEEP_RUN_TARGETS + 1)]:
        shutil.rmtree(stale, ignore_errors=True)
    return root / run_id


@contextmanager
def _dbt_sees(working: Path) -> Iterator[None]:
    """The dbt process inherits this environment: our profile's warehouse is the working file."""
    names = ("P2P_DBT_DUCKDB_PATH", "DBT_SEND_ANONYMOUS_USAGE_STATS")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(P2P_DBT_DUCKDB_PATH=str(working), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dbt_assets(
    manifest=MANIFEST_PATH,
    project=project,
    dagster_dbt_translator=TRANSLATOR,
    name="marts",
    pool="duckdb",
)
def marts(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBWarehouse
) -> Iterator[Any]:
    from p2p_assets.lib.warehouse import snapshots

    working = snapshots.ensure_working(warehouse.layout)
    target = _run_target(context.run_id)
    manifest = json.loads(MANIFEST_PATH.read_text())
    with warehouse.connect(read_only=True) as con:
        present = {
            (schema, name)
            for schema, name in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
                "SELECT schema_name, view_name FROM duckdb_views()"
            ).fetchall()
        }
    _seed_if_missing(context, manifest, present, working, target)
    args = ["build", "--no-use-colors"]
    waiting = _waiting_for_sources(manifest, present)
    if waiting and context.run.tags.get(SENSOR_NAME_TAG) == marts_automation_sensor.name:
        # The sensor asks after any load; a mart whose source was never loaded (Visma's tables
        # before its first file) waits for it instead of failing. Asked by a person, it fails.
        context.log.info(
            "Not built yet, their tables were never loaded: "
            + "; ".join(f"{m} ({', '.join(t)})" for m, t in sorted(waiting.items()))
        )
        args += ["--exclude", *sorted(waiting)]
    with _dbt_sees(working):
        invocation = dbt.cli(args, context=context, raise_on_error=False, target_path=target)
    # dbt holds the file while it runs: take its events, then read what it built. dagster-dbt
    # echoes dbt's log to stdout; it goes to the run's log instead (a sync's terminal stays
    # readable; the whole log is also in dbt.log).
    echoed = io.StringIO()
    with contextlib.redirect_stdout(echoed):
        events = list(invocation.stream())
        invocation.wait()
    context.log.info(f"dbt build ({target / 'dbt.log'}):\n{echoed.getvalue()[-30_000:]}")
    with warehouse.connect(read_only=True) as con:
        for event in events:
            yield _with_summary(context, con, event, invocation.manifest)
    # A failing test is its asset check's result; a model or seed that did not build fails
    # the step (dbt skips what is downstream of a failed invariant: that fails it too).
    broken = not_built(target / "run_results.json")
    if broken or invocation.process.returncode not in (0, 1):
        raise dg.Failure(
            description="dbt build of the marts failed; each mart that failed keeps its previous "
            "table.\n" + ("\n".join(broken) or str(invocation.get_error())),
            metadata={"dbt_log": dg.MetadataValue.path(str(target / "dbt.log"))},
        )


def _missing(manifest: Mapping[str, Any], kind: str, present: set[tuple[str, str]]):
    nodes = manifest["sources"] if kind == "source" else manifest["nodes"]
    for unique_id, node in nodes.items():
        if node.get("resource_type") != kind:
            continue
        name = node.get("identifier") or node.get("alias") or node["name"]
        if (node["schema"], name) not in present:
            yield unique_id, f"{node['schema']}.{name}"


def _waiting_for_sources(
    manifest: Mapping[str, Any], present: set[tuple[str, str]]
) -> dict[str, list[str]]:
    """Model name -> the source tables it reads (directly or through models) that are missing."""
    waiting: dict[str, list[str]] = {}
    for unique_id, table in _missing(manifest, "source", present):
        pending, seen = list(manifest.get("child_map", {}).get(unique_id, [])), set()
        while pending:
            child = pending.pop()
            if child in seen or not child.startswith("model."):
                continue
            seen.add(child)
            waiting.setdefault(manifest["nodes"][child]["name"], []).append(table)
            pending.extend(manifest["child_map"].get(child, []))
    return waiting


def _seed_if_missing(context, manifest, present, working: Path, target: Path) -> None:
    """The seeds (reference data the models join) exist before any model needs them, whatever
    the run selected: a run the sensor asked for selects only the marts."""
    missing = [table for _, table in _missing(manifest, "seed", present)]
    if not missing:
        return
    context.log.info(f"Loading the dbt seeds first: {', '.join(missing)} are not in the warehouse")
    done = subprocess.run(
        [DBT_EXECUTABLE, "seed", "--no-use-colors"],
        cwd=PROJECT_DIR,
        env=dbt_environment(str(working), target / "seed"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise dg.Failure(
            description=f"dbt seed failed: {(done.stdout + done.stderr).strip()[-4000:]}"
        )


def not_built(run_results: Path) -> list[str]:
    """`model <name>: <dbt's message>` for each model or seed dbt did not build."""
    if not run_results.exists():
        return [f"dbt wrote no {run_results.name} (see its log)"]
    results = json.loads(run_results.read_text()).get("results", [])
    return [
        f"{r['unique_id'].split('.')[0]} {r['unique_id'].split('.')[-1]} {r['status']}: "
        f"{(r.get('message') or '').strip()}"
        for r in results
        if r["unique_id"].split(".")[0] in ("model", "seed", "snapshot")
        and r.get("status") in ("error", "skipped", "runtime error")
    ]


def _node(manifest: Mapping[str, Any], key: dg.AssetKey) -> Mapping[str, Any] | None:
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") in ("model", "seed") and TRANSLATOR.get_asset_key(node) == key:
            return node
    return None


def summary_for(con, manifest: Mapping[str, Any], key: dg.AssetKey) -> summaries.Summary | None:
    node = _node(manifest, key)
    if node is None:
        return None
    options = (
        (node.get("meta") or {}).get("p2p")
        or (node.get("config", {}).get("meta") or {}).get("p2p")
        or {}
    )
    return summaries.summarise(
        con,
        node["schema"],
        node.get("alias") or node["name"],
        problems=bool(options.get("problems")),
        show=options.get("show"),
    )


def summary_metadata(summary: summaries.Summary) -> dict[str, Any]:
    metadata: dict[str, Any] = {"dagster/row_count": summary.rows, "table": summary.relation}
    if summary.problems is not None:
        metadata["open_problems"] = summary.problems
        metadata["open_problem_amount"] = float(summary.problem_amount or 0)
        if summary.problems_by_status:
            metadata["open_problems_by_status"] = dg.MetadataValue.json(summary.problems_by_status)
        metadata["open_problems_first_20"] = dg.MetadataValue.md(
            summary.table if summary.problems else "No open problems."
        )
    return metadata


def _with_summary(context, con, event: Any, manifest: Mapping[str, Any]) -> Any:
    """The event with what the warehouse now holds: rows, and the open problems where listed."""
    if isinstance(event, dg.Output):
        key = context.assets_def.keys_by_output_name[event.output_name]
        summary = summary_for(con, manifest, key)
        if summary is None:
            return event
        return dg.Output(
            value=event.value,
            output_name=event.output_name,
            metadata={**event.metadata, **summary_metadata(summary)},
            data_version=event.data_version,
            tags=event.tags,
        )
    if isinstance(event, dg.AssetCheckResult) and event.check_name == RECONCILE_CHECK:
        summary = summary_for(con, manifest, event.asset_key)
        if summary is None or summary.problems is None:
            return event
        return event._replace(
            metadata={
                **event.metadata,
                "unexplained_breaks": summary.problems,
                "unexplained_amount": float(summary.problem_amount or 0),
                "breaks_by_status": dg.MetadataValue.json(summary.problems_by_status),
            },
            description=f"{summary.problems} unexplained reconciliation break(s), "
            f"{summaries.amount(summary.problem_amount)} at stake",
        )
    return event


marts_job = dg.define_asset_job(
    name=JOB,
    description="Build the marts (dbt) from what the warehouse holds now.",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
)

LOADING_VENDORS = ("basware", "visma")


def vendors_off() -> list[str]:
    """The loading vendors not configured here (another vendor is live): their tables never
    fill, so the marts reading them are left out rather than failing every time."""
    off = []
    for vendor in LOADING_VENDORS:
        try:
            if live.mode_from_env(vendor) is live.Mode.OFF:
                off.append(vendor)
        except live.ConfigurationError:
            pass  # configured, wrongly: its runs fail with the message
    return off


def marts_selection(off: list[str]) -> dg.AssetSelection:
    """The marts, less those downstream of a vendor in `off`."""
    selection = dg.AssetSelection.groups(GROUP)
    if off:
        selection = selection - dg.AssetSelection.key_prefixes(*[[v] for v in off]).downstream()
    return selection


marts_automation_sensor = dg.AutomationConditionSensorDefinition(
    "marts_automation_sensor",
    target=marts_selection(vendors_off()),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Rebuilds the marts after the data they read changes (a new Basware extract or "
    "Visma file loaded) or their SQL changes; not those reading a vendor that is not configured "
    "here. Stop this sensor to build them only by hand or with `p2p-assets sync`.",
)
