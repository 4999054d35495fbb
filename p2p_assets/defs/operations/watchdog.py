"""Running a job in this process so that waiting for a pool slot is visible, bounded and can be
stopped.

`p2p-assets sync` executes its runs in-process. A step whose pool slot another run holds waits
inside Dagster: silently, for ever, and deaf to SIGTERM and SIGINT (Dagster only sets a flag
then, and looks at it at checkpoints none of which is in that wait). So, around each run:

- before it starts, `wait_for_free_slots` waits in our own loop until every pool the job uses has
  a free slot: the common case never enters Dagster's wait, and a signal stops it at once;
- while it runs, a watchdog thread looks for the run's unassigned claims every 2 s. While there
  are some it frees what dead runs hold (`recover`), says every 30 s what it waits for, and after
  `P2P_POOL_WAIT_SECONDS` (default 1800) gives up: the run is marked failed with the reason, its
  claims are freed and the process exits 1. A SIGTERM or SIGINT while waiting ends it the same
  way, with 143 or 130.

While a step executes, signals stay Dagster's: they raise inside the step and the run fails as
usual; the process then exits with the signal's code rather than going on to the next run.
Messages go to stdout, the sync's console, which cron mails.
"""

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id
from dagster._utils.concurrency import ConcurrencyKeyInfo

from p2p_assets import settings
from p2p_assets.defs.operations import dagster_fixes  # noqa: F401  (the executor must not spin)
from p2p_assets.defs.operations.recovery import process_tags, recover
from p2p_assets.defs.operations.signals import SIGNAL_EXITS, SignalRecorder, Stopped, signals_raise
from p2p_assets.defs.operations.waiting import WAIT_VARIABLE, describe_wait, gave_up

DEFAULT_WAIT_SECONDS = 1800.0
CHECK_EVERY_SECONDS = 2.0
REPORT_EVERY_SECONDS = 30.0
GAVE_UP_EXIT = 1

log = logging.getLogger(__name__)


def announce(message: str) -> None:
    print(message, flush=True)


def pool_wait_seconds() -> float:
    return settings.seconds_from_env(WAIT_VARIABLE, DEFAULT_WAIT_SECONDS)


def job_pools(job: dg.JobDefinition) -> list[str]:
    return sorted({op.pool for op in job.graph.iterate_op_defs() if op.pool})


def execute_in_process(
    job: dg.JobDefinition,
    *,
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    say: Callable[[str], None] = announce,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(instance=instance, ...)`, waited for, watched and tagged with this
    process (so recovery can tell when it dies)."""
    pools = job_pools(job)
    wait_for_free_slots(instance, pools, job.name, say=say)
    run_id = make_new_run_id()
    with _Watchdog(instance, run_id, job.name, pools, say) as watchdog:
        try:
            result = job.execute_in_process(
                instance=instance, run_id=run_id, tags={**(tags or {}), **process_tags()}, **kwargs
            )
        except (DagsterExecutionInterruptedError, KeyboardInterrupt):
            result = None
    signum = watchdog.signals.received
    if result is None or signum is not None:
        signum = signum or signal.SIGINT
        say(f"stopped by signal {signal.Signals(signum).name} during run {run_id[:8]} ({job.name})")
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        raise SystemExit(SIGNAL_EXITS.get(signum, 128 + signum))
    return result


def _busy(instance: dg.DagsterInstance, pools: list[str]) -> dict[str, ConcurrencyKeyInfo]:
    infos = instance.event_log_storage.get_concurrency_infos(pools)
    return {
        pool: info
        for pool, info in infos.items()
        if info.limit is not None and len(info.claimed_slots) >= info.limit
    }


def wait_for_free_slots(
    instance: dg.DagsterInstance,
    pools: list[str],
    job_name: str,
    *,
    say: Callable[[str], None] = announce,
) -> None:
    """Return once every pool in `pools` has a free slot; exit the process when the wait passes
    `P2P_POOL_WAIT_SECONDS` or a signal arrives. Nothing is claimed: the run claims its slots."""
    if not pools or not instance.event_log_storage.supports_global_concurrency_limits:
        return
    limit = pool_wait_seconds()
    started = last_report = time.monotonic()
    busy: dict[str, ConcurrencyKeyInfo] = {}
    try:
        with signals_raise():
            while busy := _busy(instance, pools):
                for item in recover(instance):
                    say(f"Recovered {item}")
                busy = _busy(instance, pools)
                if not busy:
                    return
                waited = time.monotonic() - started
                if waited >= limit:
                    say(gave_up(instance, busy, waited, job_name))
                    raise SystemExit(GAVE_UP_EXIT)
                if time.monotonic() - last_report >= REPORT_EVERY_SECONDS:
                    say(describe_wait(instance, busy, waited, job_name, limit))
                    last_report = time.monotonic()
                time.sleep(min(CHECK_EVERY_SECONDS, max(0.1, limit - waited)))
    except Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        say(f"stopped by signal {name} while waiting for pool {', '.join(sorted(busy))}")
        raise SystemExit(SIGNAL_EXITS[signal.Signals(stopped.signum)]) from None


class _Watchdog:
    """A thread that watches one in-process run's claims (see the module docstring)."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        job_name: str,
        pools: list[str],
        say: Callable[[str], None],
    ) -> None:
        self.instance, self.run_id, self.job_name, self.pools = instance, run_id, job_name, pools
        self.say = say
        self.limit = pool_wait_seconds()
        self._since: float | None = None  # when this run began to wait, while it does
        self._last_check = self._last_report = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pool-watchdog", daemon=True)

    def __enter__(self) -> "_Watchdog":
        self.signals = SignalRecorder()
        if self.pools and self.instance.event_log_storage.supports_global_concurrency_limits:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.signals.close()

    def _waiting(self) -> dict[str, ConcurrencyKeyInfo]:
        """The pools in which this run has a claim no slot is assigned to yet."""
        infos = self.instance.event_log_storage.get_concurrency_infos(self.pools)
        return {
            pool: info
            for pool, info in infos.items()
            if any(
                step.run_id == self.run_id and step.assigned_timestamp is None
                for step in info.pending_steps
            )
        }

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._check()
            except Exception:  # a storage hiccup must not end the watch
                log.warning("pool watchdog of run %s: check failed", self.run_id, exc_info=True)

    def _check(self) -> None:
        signum = self.signals.poll()
        now = time.monotonic()
        if signum is None and now - self._last_check < CHECK_EVERY_SECONDS:
            return
        self._last_check = now
        waiting = self._waiting()
        if not waiting:
            self._since = None
            return
        if signum is not None:
            pools = ", ".join(sorted(waiting))
            name = signal.Signals(signum).name
            self._end(f"stopped by signal {name} while waiting for pool {pools}", signum)
        if self._since is None:
            self._since = self._last_report = now
        for item in recover(self.instance):
            self.say(f"Recovered {item}")
        waited = now - self._since
        if waited >= self.limit:
            self._end(gave_up(self.instance, waiting, waited, self.job_name, self.run_id))
        if now - self._last_report >= REPORT_EVERY_SECONDS:
            self.say(
                describe_wait(
                    self.instance, waiting, waited, self.job_name, self.limit, self.run_id
                )
            )
            self._last_report = now

    def _end(self, message: str, signum: int | None = None) -> None:
        """Fail the run with `message`, free its claims and end the process. The main thread is
        inside Dagster's slot wait, where it cannot be interrupted, and the waiting step has not
        started, so there is nothing to unwind (the file lock goes with the process)."""
        self.say(message)
        run = self.instance.get_run_by_id(self.run_id)
        if run is not None and not run.is_finished:
            self.instance.report_run_failed(run, message)
        self.instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(SIGNAL_EXITS.get(signum, 128 + signum) if signum else GAVE_UP_EXIT)
