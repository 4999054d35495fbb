"""Running the pipeline without the UI: what `p2p-assets sync` does, through Dagster itself.

The same jobs, assets and checks as the UI, executed in this process against the Dagster instance
in `DAGSTER_HOME`, so every run shows up in the UI afterwards.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC

import dagster as dg

from p2p_assets.defs.basware.assets import EXTRACT_FILES, basware_extract_partitions
from p2p_assets.defs.basware.sensors import WAITING, plan_extracts
from p2p_assets.defs.marts.assets import JOB as MARTS_JOB
from p2p_assets.defs.marts.assets import marts_selection, vendors_off
from p2p_assets.defs.marts.project import GROUP as MARTS_GROUP
from p2p_assets.defs.operations.recovery import TRIGGER_TAG, Recovered, recover
from p2p_assets.defs.operations.watchdog import execute_in_process
from p2p_assets.defs.resources import configured
from p2p_assets.defs.visma.assets import SUBSCRIPTIONS, asset_key, job_name, partitions_for
from p2p_assets.defs.visma.sensors import plan_listing
from p2p_assets.defs.warehouse.publishing import JOB as PUBLISH_JOB
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.basware.loader import warehouse_table
from p2p_assets.lib.basware.tables import CURRENT_SCHEMA
from p2p_assets.lib.visma.discovery import list_available
from p2p_assets.lib.warehouse import snapshots
from p2p_assets.lib.warehouse.connection import quote_ident, table_columns

log = logging.getLogger(__name__)


@dataclass
class ExtractOutcome:
    extract_id: str
    extract_type: str
    success: bool
    downloaded: int = 0
    error: str | None = None


@dataclass
class BaswareSyncReport:
    outcomes: list[ExtractOutcome] = field(default_factory=list)
    new_records: dict[str, int] = field(default_factory=dict)
    current_rows: dict[str, int] = field(default_factory=dict)
    definition_error: str | None = None
    refused: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return (
            self.definition_error is None
            and not self.refused
            and all(o.success for o in self.outcomes)
        )

    def render(self) -> str:
        loaded = [o for o in self.outcomes if o.success]
        failed = [o for o in self.outcomes if not o.success]
        lines = [
            f"Basware: {len(self.outcomes)} extract(s) waiting for export, {len(loaded)} loaded "
            f"and acknowledged, {len(failed)} failed; "
            f"{sum(o.downloaded for o in self.outcomes)} file(s) downloaded"
        ]
        if self.current_rows:
            lines.append(f"  {'table':<28}{'new records':>14}{'current rows':>15}")
            for table, rows in self.current_rows.items():
                lines.append(f"  {table:<28}{self.new_records.get(table, 0):>14}{rows:>15}")
        if self.definition_error:
            lines.append(f"  FAILED table definition: {self.definition_error}")
        for message in self.refused:
            lines.append(f"  REFUSED {message}")
        for outcome in failed:
            lines.append(f"  FAILED {outcome.extract_type} {outcome.extract_id}: {outcome.error}")
        return "\n".join(lines)


def sync_basware(
    defs: dg.Definitions, instance: dg.DagsterInstance, *, log_level: str = "WARNING"
) -> BaswareSyncReport:
    """Register every extract, then land, commit and acknowledge each waiting one, oldest first.

    Dagster's console log is kept at `log_level` (the full event log is in the instance anyway),
    so cron mail shows the summary and the failures, not every step.
    """
    report = BaswareSyncReport()
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    with configured("basware").get_client() as client:
        listing = client.extract_listing(WAITING)
    partitions = basware_extract_partitions.name or ""
    plan = plan_extracts(listing, instance.get_dynamic_partitions(partitions))
    report.refused = plan.refused
    if plan.new_partitions:
        instance.add_dynamic_partitions(partitions, plan.new_partitions)

    definition = execute_in_process(
        defs.resolve_job_def("basware_table_definition_job"),
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags=dict([SYNC_TAG]),
    )
    if not definition.success:
        report.definition_error = failure_message(definition)

    job = defs.resolve_job_def("basware_extract_job")
    for extract in plan.to_load:
        log.info("syncing Basware %s extract %s", extract.type, extract.id)
        result = execute_in_process(
            job,
            instance=instance,
            partition_key=extract.id,
            raise_on_error=False,
            run_config=run_config,
            tags=dict([SYNC_TAG]),
        )
        outcome = ExtractOutcome(extract.id, extract.type or "", result.success)
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key == EXTRACT_FILES:
                value = materialization.metadata.get("downloaded_now")
                outcome.downloaded = int(getattr(value, "value", 0) or 0)
        if not result.success:
            outcome.error = failure_message(result)
        report.outcomes.append(outcome)
        publish_warehouse(defs, instance, only_if_due=True, log_level=log_level)

    _summarise_warehouse(report, [o.extract_id for o in report.outcomes if o.success])
    return report


def _summarise_warehouse(report: BaswareSyncReport, extract_ids: list[str]) -> None:
    with DuckDBWarehouse().connect(read_only=True) as con:
        if not table_columns(con, CURRENT_SCHEMA, "extract_tables"):
            return
        if extract_ids:
            rows = con.execute(
                f"SELECT table_name, sum(record_count) FROM {CURRENT_SCHEMA}.extract_tables "
                "WHERE list_contains(?, extract_id) GROUP BY ALL",
                [extract_ids],
            ).fetchall()
            report.new_records = {table: int(count) for table, count in rows}
        tables = con.execute(
            f"SELECT DISTINCT table_name FROM {CURRENT_SCHEMA}.extract_tables ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            name = f"{CURRENT_SCHEMA}.{quote_ident(warehouse_table(table))}"
            count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            report.current_rows[table] = int(count[0]) if count else 0


SYNC_TAG = (TRIGGER_TAG, "p2p-assets sync")


def recover_abandoned_runs(instance: dg.DagsterInstance) -> list[Recovered]:
    """Fail the runs whose process is gone, whatever started them (a crashed sync, a killed run
    worker of the UI or the daemon), and free the pool slots they and ended runs still hold.

    A dead holder would otherwise keep its `duckdb`/vendor pool slot, and every later run would
    wait for it forever. Runs whose process is alive (a daemon's run, another host's) are left
    alone, so this is safe while the daemon runs; the sync lock only keeps other syncs out.
    """
    return recover(instance)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE" or not event.step_failure_data:
            continue
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error:
            cause = data.error.cause or data.error
            return cause.message.strip().splitlines()[-1] if cause.message else data.error.message
    return "run failed (see the Dagster UI for the run's logs)"


@dataclass
class FileOutcome:
    business_type_id: int
    file_id: str
    file_name: str
    success: bool
    downloaded: bool = False
    records: int = 0
    error: str | None = None


@dataclass
class VismaSyncReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    listing_errors: dict[int, str] = field(default_factory=dict)
    skipped_snapshots: dict[int, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    not_now: str | None = None  # why the plan allows no call now (nothing was sent)

    @property
    def success(self) -> bool:
        return (
            not self.listing_errors and not self.refused and all(o.success for o in self.outcomes)
        )

    def render(self) -> str:
        if self.not_now:
            return f"Visma: nothing listed, no call made: {self.not_now}"
        loaded = [o for o in self.outcomes if o.success]
        failed = [o for o in self.outcomes if not o.success]
        lines = [
            f"Visma: {len(self.outcomes)} new file(s), {len(loaded)} loaded, {len(failed)} "
            f"failed; {sum(o.downloaded for o in self.outcomes)} downloaded, "
            f"{sum(o.records for o in loaded)} record(s) parsed"
        ]
        for type_id, count in sorted(self.skipped_snapshots.items()):
            lines.append(
                f"  business type {type_id}: {count} older snapshot(s) left unloaded "
                "(only the newest snapshot is current)"
            )
        by_error: dict[str, list[int]] = {}  # one listing call serves every type: say it once
        for type_id, error in sorted(self.listing_errors.items()):
            by_error.setdefault(error, []).append(type_id)
        for error, types in by_error.items():
            label = "business type" if len(types) == 1 else "business types"
            lines.append(f"  FAILED listing {label} {', '.join(map(str, types))}: {error}")
        for message in self.refused:
            lines.append(f"  REFUSED {message}")
        for o in failed:
            lines.append(f"  FAILED {o.business_type_id} {o.file_name} ({o.file_id}): {o.error}")
        return "\n".join(lines)


def sync_visma(
    defs: dg.Definitions, instance: dg.DagsterInstance, *, log_level: str = "WARNING"
) -> VismaSyncReport:
    """List every subscribed business type, register the files, load each new one oldest first."""
    report = VismaSyncReport()
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    visma = configured("visma")
    report.not_now = visma.ledger().call_refusal()
    if report.not_now:
        return report
    with visma.get_client() as client:
        listing = list_available(client, SUBSCRIPTIONS)
    plan = plan_listing(listing, instance, retry_unloaded=True)
    report.listing_errors = plan.errors
    report.skipped_snapshots = plan.skipped_snapshots
    report.refused = plan.refused
    for type_id, keys in plan.new_partitions.items():
        instance.add_dynamic_partitions(partitions_for(type_id).name or "", keys)
    for type_id, file in plan.to_load:
        job = defs.resolve_job_def(job_name(type_id))
        result = execute_in_process(
            job,
            instance=instance,
            partition_key=file.file_id,
            raise_on_error=False,
            run_config=run_config,
            tags=dict([SYNC_TAG]),
        )
        outcome = FileOutcome(type_id, file.file_id, file.file_name, result.success)
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key == asset_key(type_id):
                metadata = materialization.metadata
                outcome.downloaded = bool(getattr(metadata.get("downloaded_now"), "value", 0))
                outcome.records = int(getattr(metadata.get("records"), "value", 0) or 0)
        if not result.success:
            outcome.error = failure_message(result)
        report.outcomes.append(outcome)
        publish_warehouse(defs, instance, only_if_due=True, log_level=log_level)
    return report


@dataclass
class MartsReport:
    summaries: list[tuple[str, dict[str, object]]] = field(default_factory=list)  # (mart, figures)
    failed_checks: list[tuple[str, str]] = field(default_factory=list)  # (check, what it says)
    error: str | None = None
    current: bool = False  # nothing they read changed since they were built
    seconds: float = 0.0
    left_out: list[dg.AssetKey] = field(default_factory=list)  # they read a vendor that is off
    off: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.error is None

    def render(self) -> str:
        skipped = (
            f"  not built: {', '.join(k.path[-1] for k in self.left_out)} (they read "
            f"{' and '.join(self.off)}, not configured here)"
        )
        if self.current:
            line = "Marts: current (nothing they read changed since they were built)"
            return line + ("\n" + skipped if self.left_out else "")
        built = len(self.summaries)
        lines = [
            f"Marts: {built} built in {self.seconds:.1f} s"
            + (f", {len(self.failed_checks)} check(s) failed" if self.failed_checks else "")
        ]
        for mart, figures in self.summaries:
            line = f"  {mart:<40}{int(figures.get('dagster/row_count', 0)):>9,} rows"
            if "open_problems" in figures:
                line += (
                    f", {int(figures['open_problems'])} open problem(s) "
                    f"({float(figures.get('open_problem_amount', 0)):,.2f})"
                )
            lines.append(line)
        if self.left_out:
            lines.append(skipped)
        for check, description in self.failed_checks:
            lines.append(f"  CHECK FAILED {check}: {description}")
        if self.error:
            lines.append("  FAILED " + self.error.replace("\n", "\n    "))
        return "\n".join(lines)


def marts_for(
    defs: dg.Definitions, needed_by: list[dg.AssetKey] | None, off: list[str] | None = None
) -> list[dg.AssetKey]:
    """Every mart, or only those the assets `needed_by` read (directly or through others); none
    that reads a vendor in `off` (not configured here)."""
    graph = defs.resolve_asset_graph()
    marts = marts_selection(off or []).resolve(graph)
    if needed_by is None:
        return sorted(marts, key=str)
    upstream = {a for k in needed_by if graph.has(k) for a in graph.get_ancestor_asset_keys(k)}
    return sorted((k for k in marts if k in upstream), key=str)


def marts_stale(
    defs: dg.Definitions, instance: dg.DagsterInstance, marts: list[dg.AssetKey]
) -> bool:
    """Whether a mart was never built, or an asset it reads was materialised after it was."""
    graph = defs.resolve_asset_graph()
    inputs = {p for k in marts for p in graph.get(k).parent_keys if p.path[0] != MARTS_GROUP}

    def latest(key: dg.AssetKey) -> int | None:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key), limit=1, ascending=False
        ).records
        return records[0].storage_id if records else None

    built = [latest(k) for k in marts]
    if not marts or any(b is None for b in built):
        return True
    changed = [s for s in (latest(k) for k in inputs) if s is not None]
    return bool(changed) and max(changed) > min(b for b in built if b is not None)


def sync_marts(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    log_level: str = "WARNING",
    force: bool = False,
    needed_by: list[dg.AssetKey] | None = None,
) -> MartsReport:
    """Build the marts (dbt, `marts_job`) when what they read changed since they were built;
    with `needed_by`, only the marts those assets read."""
    off = vendors_off()
    marts = marts_for(defs, needed_by, off)
    left_out = sorted(set(marts_for(defs, needed_by)) - set(marts), key=str)
    if not marts or (not force and not marts_stale(defs, instance, marts)):
        return MartsReport(current=True, left_out=left_out, off=off)
    report = MartsReport(left_out=left_out, off=off)
    started = time.monotonic()
    result = execute_in_process(
        defs.resolve_job_def(MARTS_JOB),
        instance=instance,
        asset_selection=marts,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags=dict([SYNC_TAG]),
    )
    report.seconds = time.monotonic() - started
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        figures = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        name = str(figures.get("table") or ".".join(materialization.asset_key.path))
        report.summaries.append((name, figures))
    report.summaries.sort()
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            text = evaluation.description or ""
            if not text:
                failures = evaluation.metadata.get("dbt_failures") or evaluation.metadata.get(
                    "failed_row_count"
                )
                text = f"{getattr(failures, 'value', failures)} failing row(s)" if failures else ""
            name = f"{'.'.join(evaluation.asset_key.path)}:{evaluation.check_name}"
            report.failed_checks.append((name, text or "failed"))
    if not result.success:
        report.error = failure_message(result)
    publish_warehouse(defs, instance, only_if_due=True, log_level=log_level)
    return report


@dataclass
class WritebackReport:
    assets: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return not self.failures

    def render(self) -> str:
        lines = []
        for asset, counts in self.assets.items():
            if "events_folded_now" in counts:
                lines.append(
                    f"Write-back {asset}: {counts['events_folded_now']} webhook event(s) folded, "
                    f"{counts.get('confirmed_now', 0)} record(s) confirmed, "
                    f"{counts.get('push_failures_now', 0)} push(es) failed"
                    + (f", {counts['unknown_outcomes_now']} outcome(s) unknown"
                       if counts.get("unknown_outcomes_now") else "")
                    + (f", {counts['events_with_a_problem_now']} event(s) with a problem "
                       "(boss_insights.sync_events.problem)"
                       if counts.get("events_with_a_problem_now") else "")
                )  # fmt: skip
                continue
            lines.append(
                f"Write-back {asset}: {counts.get('sent_now', 0)} sent now; outbox "
                + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "sent_now")
            )
        for job, error in self.failures.items():
            lines.append(f"  FAILED write-back {job}: {error}")
        return "\n".join(lines) or "Write-back: nothing to do"


# Per target, in order: the webhooks of the Boss Insights writes are folded after those writes.
WRITEBACK_JOBS = {
    "workspace365": ("workspace365_writeback_job",),
    "boss_insights": ("boss_insights_writeback_job", "boss_insights_sync_events_job"),
}
_REPORTED = ("sent_now", "events_folded_now", "confirmed_now", "push_failures_now",
             "unknown_outcomes_now", "events_with_a_problem_now")  # fmt: skip


def sync_writeback(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    log_level: str = "WARNING",
    targets: tuple[str, ...] = tuple(WRITEBACK_JOBS),
) -> WritebackReport:
    """Send what is new to the write-back targets, as materialising the assets in the UI does."""
    report = WritebackReport()
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    for job_name_ in (job for target in targets for job in WRITEBACK_JOBS[target]):
        result = execute_in_process(
            defs.resolve_job_def(job_name_),
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags=dict([SYNC_TAG]),
        )
        if not result.success:
            report.failures[job_name_] = failure_message(result)
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            report.assets[materialization.asset_key.to_user_string()] = {
                key.removeprefix("outbox_"): int(getattr(value, "value", 0) or 0)
                for key, value in materialization.metadata.items()
                if key.startswith("outbox_") or key in _REPORTED
            }
    return report


@dataclass
class PublishReport:
    path: str
    published: snapshots.Published | None = None  # the snapshot in place now
    now: bool = False  # published by this call
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.error is None

    def render(self) -> str:
        if self.error:
            return f"Warehouse: FAILED publishing {self.path}: {self.error}"
        state = self.published
        if state is None:
            return f"Warehouse: nothing committed yet; {self.path} does not exist"
        when = f"{state.when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        if not self.now:
            return f"Warehouse: {self.path} is current (published {when})"
        return (
            f"Warehouse: published {self.path} ({state.bytes / 1e6:.1f} MB in {state.seconds:.1f} "
            f"s) at {when}; new connections see it"
        )


def publish_warehouse(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    only_if_due: bool,
    log_level: str = "WARNING",
) -> PublishReport | None:
    """Materialise `warehouse/published` (pool `duckdb`, like every warehouse writer) when
    something new is committed: between a sync's runs only when `snapshots.due`, at its end
    always. None when nothing was asked of it."""
    where = DuckDBWarehouse().layout
    if not (snapshots.due(where) if only_if_due else snapshots.pending(where)):
        return (
            None
            if only_if_due
            else PublishReport(str(where.published), snapshots.read_state(where))
        )
    result = execute_in_process(
        defs.resolve_job_def(PUBLISH_JOB),
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags=dict([SYNC_TAG]),
    )
    report = PublishReport(str(where.published))
    if not result.success:
        report.error = failure_message(result)
        log.warning("publishing the warehouse failed: %s", report.error)
    else:
        report.published, report.now = snapshots.read_state(where), True
    return report
