"""On the weekly plan, outside its window, the Dagster daemon makes no call to Visma at all: its
sensor ticks skip with the time the next window opens, and no token is fetched."""

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import TickStatus

from p2p_assets_tests.live import test_visma_live
from p2p_assets_tests.live.test_daemon_live import DAEMON, ROOT

# Two sensor evaluations (at start, then after the sensor's 60 s interval); the ten
# minutes with P2P_TEST_DAEMON_SECONDS=600.
SECONDS = float(os.environ.get("P2P_TEST_DAEMON_SECONDS", "75"))


def _sensor_ticks(home: Path) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for state in instance.all_instigator_state():
            if state.name == "visma_files_sensor":
                return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return []


def test_the_daemon_makes_no_call_outside_the_weekly_window(serve, product) -> None:
    # A window three days from now: whatever the hour, now is outside it.
    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%a")
    window = f"{day} 06:00-08:00 UTC"
    served = serve("visma", plan="weekly", window=window, files_per_type="1")
    user = product(
        **test_visma_live.live_env(served),
        VISMA_PLAN="weekly",
        VISMA_WINDOW=window,
        VISMA_BUSINESS_TYPES="134001",
    )
    home = user.data_dir / "dagster"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    with (user.data_dir / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(
            [str(DAEMON), "run", "-m", "p2p_assets.definitions"],
            cwd=ROOT, env={**user.env, "DAGSTER_HOME": str(home)},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + SECONDS + 120
            while len(_sensor_ticks(home)) < 2 or time.monotonic() < deadline - 120:
                assert time.monotonic() < deadline, (user.data_dir / "daemon.log").read_text()
                assert daemon.poll() is None, (user.data_dir / "daemon.log").read_text()
                time.sleep(5)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    ticks = _sensor_ticks(home)
    assert len(ticks) >= 2
    for tick in ticks:
        assert tick.status == TickStatus.SKIPPED, tick.error
        assert "outside Visma's call window" in (tick.skip_reason or "")
        assert f"allows calls only in {window}" in (tick.skip_reason or "")
    counters = test_visma_live.counters(served)  # the sandbox's own count of what reached it
    assert counters.get("api_calls", 0) == 0 and counters.get("auth_calls", 0) == 0, counters
    assert not (user.data_dir / "visma" / "token.json").exists()
    assert [r for r in dg.DagsterInstance.from_config(str(home)).get_runs()] == []
