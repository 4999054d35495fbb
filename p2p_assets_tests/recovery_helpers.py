"""Processes for the recovery tests: a sync as cron runs it, and holders of what a sync waits for.

`python -m p2p_assets_tests.recovery_helpers hold-slot POOL READY` runs a one-op job in the
instance of DAGSTER_HOME whose op holds a slot of POOL until the process is killed, like a run
launched from the UI (no p2p_assets tags: recovery finds its process from its RUN_START event).
`... hold-warehouse PATH READY` keeps a read-write DuckDB connection to PATH open. Both write
READY once they hold what they hold.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from p2p_assets.sandbox.basware import BaswareSandbox
from p2p_assets.sandbox.basware.env import config_from_env

HOLDER_JOB = "slot_holder_job"
STARTED: list[subprocess.Popen] = []


def stop_all() -> None:
    """Kill every helper process a test started and left running (a test that failed midway)."""
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


class Sync:
    """`p2p-assets sync basware` in a subprocess, with its private data directory."""

    def __init__(self, env: dict[str, str], **extra_env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "p2p_assets.cli", "sync", "basware"],
            env={**env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        STARTED.append(self.process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self, signum: int = signal.SIGKILL) -> None:
        os.kill(self.process.pid, signum)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
            raise AssertionError(f"sync did not end within {timeout} s:\n{output}") from None
        return self.process.returncode, output

    def read_until(self, needle: str, timeout: float) -> str:
        """Lines of output up to and including the first one that contains `needle`."""
        assert self.process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                return "".join(seen)
        raise AssertionError(f"no {needle!r} within {timeout} s; output:\n{''.join(seen)}")


class Holder:
    """A helper process of this module (`hold-slot` or `hold-warehouse`), ready once started."""

    def __init__(self, env: dict[str, str], command: str, target: str, ready: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "p2p_assets_tests.recovery_helpers",
                command,
                target,
                str(ready),
            ],
            env=env,
        )
        STARTED.append(self.process)
        wait_for(ready.exists, 60, f"{command} {target} to be held")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sandbox_for(env: dict[str, str]) -> BaswareSandbox:
    """The sandbox state the CLI's in-process sandbox serves, for faults, deltas and truth."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return BaswareSandbox(config_from_env(), Path(env["P2P_DATA_DIR"]) / "sandbox" / "basware")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _hold_slot(pool: str, ready: Path) -> None:
    @dg.op(pool=pool)
    def hold_slot() -> None:
        ready.write_text(str(os.getpid()))
        while True:
            time.sleep(1)

    @dg.job(name=HOLDER_JOB)
    def holder() -> None:
        hold_slot()

    holder.execute_in_process(instance=dg.DagsterInstance.get())


def _hold_warehouse(path: str, ready: Path) -> None:
    import duckdb

    con = duckdb.connect(path)
    ready.write_text(str(os.getpid()))
    while True:
        time.sleep(1)
    con.close()


if __name__ == "__main__":
    command, target, ready_file = sys.argv[1:4]
    if command == "hold-slot":
        _hold_slot(target, Path(ready_file))
    elif command == "hold-warehouse":
        _hold_warehouse(target, Path(ready_file))
    else:
        raise SystemExit(f"unknown command {command}")
