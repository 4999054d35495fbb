"""Freeing what dead runs hold, whoever started them.

A run whose process is killed (kill -9, an OOM kill, a reboot) stays `STARTED` in the instance
and keeps the pool slots it claimed; with every pool at one slot, each later run that needs the
pool waits for it forever. `recover` fails such runs and frees their slots, and frees slots still
held by runs that ended or that the instance does not know. `p2p-assets sync` calls it before
and while it waits; `abandoned_runs_sensor` calls it for the daemon.

A run's process is the one its `p2p_assets/pid` and `p2p_assets/host` tags name (the headless sync
sets them), else the run worker that wrote its RUN_START event: the run worker lives until the run
ends, a multiprocess step's child may not. A run whose process may be alive, or that we cannot
check (another host, a run launcher that starts workers elsewhere), is never touched.
"""

import os
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.storage.dagster_run import RunRecord

from p2p_assets.lib.processes import process_alive, this_host

PID_TAG = "p2p_assets/pid"
HOST_TAG = "p2p_assets/host"
TRIGGER_TAG = "p2p_assets/trigger"
IN_PROGRESS = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class RunProcess:
    pid: int
    host: str | None  # None: not recorded; the local run launcher starts workers on this host


@dataclass(frozen=True)
class Recovered:
    """One run recovery acted on, and what it did."""

    run_id: str
    job_name: str | None
    action: str
    pools: tuple[str, ...] = ()

    def __str__(self) -> str:
        job = f" (job {self.job_name})" if self.job_name else ""
        freed = f"; freed its slots in {', '.join(self.pools)}" if self.pools else ""
        return f"run {self.run_id[:8]}{job}: {self.action}{freed}"


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run executed in it."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: this_host()}


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess | None:
    """The process that runs `run`, when it can be known and checked from this host."""
    host = run.tags.get(HOST_TAG)
    if host is None and not isinstance(instance.run_launcher, DefaultRunLauncher):
        return None  # its worker may run in a container or on another machine
    if PID_TAG in run.tags:
        try:
            return RunProcess(int(run.tags[PID_TAG]), host)
        except ValueError:
            return None
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.RUN_START, limit=1
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    if event is None or event.pid is None:
        return None
    return RunProcess(event.pid, host)


def gone_process(instance: dg.DagsterInstance, record: RunRecord) -> RunProcess | None:
    """The run's process if it is known to be gone (or its pid now belongs to a process started
    after the run); None while it may be alive or cannot be checked. A step process the
    multiprocess executor started outlives a killed run worker until its step ends, so the run
    counts as alive while one of its steps' processes is."""
    process = run_process(instance, record.dagster_run)
    if process is None or (process.host is not None and process.host != this_host()):
        return None
    if process_alive(process.pid, started_before=record.start_time):
        return None
    steps = instance.get_records_for_run(
        record.dagster_run.run_id, of_type=DagsterEventType.STEP_START
    ).records
    for step in steps:
        event = step.event_log_entry.dagster_event
        pid = event.pid if event else None
        if pid and pid != process.pid:
            if process_alive(pid, started_before=step.event_log_entry.timestamp):
                return None
    return process


def held_pools(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """Run id -> the pools in which it holds a slot or waits for one. A claim in a pool that has
    no limit yet is listed by run only (its pool is not known here), and freed all the same."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    held: dict[str, set[str]] = {run_id: set() for run_id in storage.get_concurrency_run_ids()}
    for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        claims = [*info.claimed_slots, *info.pending_steps]
        for run_id in {claim.run_id for claim in claims}:
            held.setdefault(run_id, set()).add(pool)
    return held


def recover(instance: dg.DagsterInstance) -> list[Recovered]:
    """Fail every in-progress run whose process is gone, free its slots, and free the slots of
    runs that are finished or unknown; returns what was done (empty when nothing was wrong)."""
    recovered = []
    held = held_pools(instance)
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        process = gone_process(instance, record)
        if process is None:
            continue
        # Read the run again: a run ends (its last event stored) before its process exits, so a
        # run still in progress now that its process is gone will never end by itself.
        run = instance.get_run_by_id(record.dagster_run.run_id)
        if run is None or run.status not in IN_PROGRESS:
            continue
        reason = f"process {process.pid} that ran it is gone (killed or crashed)"
        canceling = run.status == dg.DagsterRunStatus.CANCELING
        verb = "canceled" if canceling else "failed"
        message = f"{reason}; p2p_assets recovery marked it {verb} and freed its pool slots"
        if canceling:
            instance.report_run_canceled(run, message)
        else:
            instance.report_run_failed(run, message)
        action = f"marked {verb}: {reason}"
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        pools = tuple(sorted(held.pop(run.run_id, ())))
        recovered.append(Recovered(run.run_id, run.job_name, action, pools))
    for run_id, pools in sorted(held.items()):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        action = (
            f"it ended ({run.status.value}) but still held pool slots"
            if run is not None
            else "unknown to this Dagster instance, yet holding pool slots"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        recovered.append(
            Recovered(run_id, run.job_name if run else None, action, tuple(sorted(pools)))
        )
    return recovered
