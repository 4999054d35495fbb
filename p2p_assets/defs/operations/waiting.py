"""What a run waiting for a pool slot tells the person reading the sync's output: which pool,
who holds it (run, job, partition, when and by what it was started, its process), for how long,
and when the wait ends."""

import time

import dagster as dg
from dagster._core.storage.tags import (
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
    SCHEDULE_NAME_TAG,
    SENSOR_NAME_TAG,
)
from dagster._utils.concurrency import ConcurrencyKeyInfo

from p2p_assets.defs.operations.recovery import TRIGGER_TAG, run_process
from p2p_assets.lib.processes import this_host

WAIT_VARIABLE = "P2P_POOL_WAIT_SECONDS"


def started_by(run: dg.DagsterRun) -> str:
    tags = run.tags
    if TRIGGER_TAG in tags:
        return tags[TRIGGER_TAG]
    if SENSOR_NAME_TAG in tags:
        return f"sensor {tags[SENSOR_NAME_TAG]}"
    if SCHEDULE_NAME_TAG in tags:
        return f"schedule {tags[SCHEDULE_NAME_TAG]}"
    if BACKFILL_ID_TAG in tags:
        return f"backfill {tags[BACKFILL_ID_TAG]}"
    return "the Dagster UI"


def describe_run(instance: dg.DagsterInstance, run_id: str) -> str:
    """E.g. `run 1a2b3c4d (job basware_extract_job, partition X, started 12:03:04 by p2p-assets
    sync, pid 4242)`."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return f"run {run_id[:8]} (unknown to this Dagster instance)"
    run = record.dagster_run
    parts = [f"job {run.job_name}"]
    if PARTITION_NAME_TAG in run.tags:
        parts.append(f"partition {run.tags[PARTITION_NAME_TAG]}")
    when = time.strftime(
        "%H:%M:%S", time.localtime(record.start_time or record.create_timestamp.timestamp())
    )
    parts.append(f"started {when} by {started_by(run)}")
    process = run_process(instance, run)
    if process is not None:
        elsewhere = process.host is not None and process.host != this_host()
        parts.append(f"pid {process.pid}" + (f" on {process.host}" if elsewhere else ""))
    if run.status not in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING):
        parts.append(run.status.value)
    return f"run {run_id[:8]} ({', '.join(parts)})"


def holders(instance: dg.DagsterInstance, info: ConcurrencyKeyInfo, own_run: str | None) -> str:
    run_ids = list(dict.fromkeys(s.run_id for s in info.claimed_slots if s.run_id != own_run))
    if not run_ids:
        return "no run holds a slot yet" if info.limit else "the pool has no slots (limit 0)"
    return "held by " + "; ".join(describe_run(instance, run_id) for run_id in run_ids)


def describe_wait(
    instance: dg.DagsterInstance,
    waiting: dict[str, ConcurrencyKeyInfo],
    waited: float,
    job_name: str,
    limit: float,
    own_run: str | None = None,
) -> str:
    """One line per pool, e.g. `waiting for pool duckdb (limit 1): held by run ... for 95 s`."""
    return "\n".join(
        f"waiting for pool {pool} (limit {info.limit}): {holders(instance, info, own_run)} "
        f"for {waited:.0f} s ({job_name}; gives up after {limit:.0f} s, {WAIT_VARIABLE})"
        for pool, info in sorted(waiting.items())
    )


def gave_up(
    instance: dg.DagsterInstance,
    waiting: dict[str, ConcurrencyKeyInfo],
    waited: float,
    job_name: str,
    own_run: str | None = None,
) -> str:
    pools = ", ".join(sorted(waiting))
    held = "; ".join(holders(instance, info, own_run) for _, info in sorted(waiting.items()))
    return (
        f"gave up waiting for pool {pools} after {waited:.0f} s ({WAIT_VARIABLE}): {held} "
        f"({job_name})"
    )
