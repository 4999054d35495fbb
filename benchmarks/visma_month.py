"""A month of Visma under one plan, in a minute or two: the sensor's ticks, its runs and a daily
sync, against a Visma sandbox that enforces the plan (window, caps, concurrency, spike arrest,
authentication quota). Prints each figure with PASS or MISS, then one `month: {json}` line.

    python benchmarks/visma_month.py --plan weekly --window "Mon 06:00-08:00 UTC"
    python benchmarks/visma_month.py --plan daily --window "06:00-08:00 Europe/Amsterdam"
    python benchmarks/visma_month.py --plan continuous

The product runs in live mode, configured only by environment variables (set before it is
imported, as in production), against the sandbox served on loopback in this process. One clock
moves both: the product's (`p2p_assets.lib.clock`) and the sandbox's persisted offset; every sleep
the product makes (pacing, backoff) moves it instead of waiting, so the spike arrest and token
lifetimes play out in simulated time. Ticks come as the daemon's would: every minute from shortly
before a window opens until after it closes, every half hour outside (each must make no call; a
real daemon's other minutes are the same pure decision); on the continuous plan every 5
minutes. A payment file (134001) is delivered every other day at 03:00 UTC, a mutation file
(101100) on Mondays; `p2p-assets sync visma`'s code runs every day at noon UTC, outside every
window.
The script exits 0 when every figure passes, 1 otherwise (the test suite runs it per plan).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday; the month crosses a month boundary
DAYS = int(os.environ.get("VISMA_MONTH_DAYS", "31"))  # shorter runs, for profiling
PAYMENTS = 134001
MUTATIONS = 101100
SUBSCRIBED = (7101, 113003, 134000, 134001, 101002, 101100)


class SharedClock:
    """The product's and the sandbox's clock, moved together; a sleep moves both."""

    def __init__(self, sandbox, start: datetime) -> None:  # noqa: ANN001 - a VismaSandbox
        self.sandbox = sandbox
        self.offset = start.timestamp() - time.time()
        sandbox.set_clock_offset(self.offset)

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)
        self.sandbox.set_clock_offset(self.offset)

    def move_to(self, moment: float) -> None:
        self.sleep(moment - self.time())  # never backwards


def _ticks(plan, window) -> list[float]:  # noqa: ANN001 - plans.Plan, plans.Window
    start, end = START.timestamp(), (START + timedelta(days=DAYS)).timestamp()
    if window is None:
        return [
            start + i * plan.poll_seconds for i in range(int((end - start) // plan.poll_seconds))
        ]
    moments = set(range(int(start), int(end), 1800))
    cursor = start
    while (opens := window.next_opening(cursor).timestamp()) < end:
        closes = opens + window.length.total_seconds()
        moments.update(range(int(opens) - 120, int(closes) + 180, 60))
        cursor = opens
    return sorted(moments)


def simulate(plan_name: str, window_text: str | None, work: Path) -> dict:
    from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig

    config = VismaSandboxConfig(
        plan=plan_name,  # type: ignore[arg-type]
        window=window_text,
        files_per_type={t: 0 for t in SUBSCRIBED} | {PAYMENTS: 2},
        spike_interval_seconds=0.6,
    )
    sandbox = VismaSandbox(config, work / "visma-sandbox")
    with sandbox.serve() as url:
        os.environ.update(
            P2P_DATA_DIR=str(work / "data"),
            DAGSTER_HOME=str(work / "dagster"),
            VISMA_API_URL=f"{url}/v1.0",
            VISMA_TOKEN_URL=f"{url}/connect/token",
            VISMA_CLIENT_ID=config.client_id,
            VISMA_CLIENT_SECRET=config.client_secret,
            VISMA_TENANT_ID=config.tenant_id,
            VISMA_PLAN=plan_name,
            VISMA_BUSINESS_TYPES=",".join(map(str, SUBSCRIBED)),
        )
        if window_text:
            os.environ["VISMA_WINDOW"] = window_text
        (work / "dagster").mkdir(parents=True, exist_ok=True)
        return _run(sandbox, plan_name)


def _run(sandbox, plan_name: str) -> dict:  # noqa: ANN001 - a VismaSandbox
    import dagster as dg

    from p2p_assets.definitions import defs
    from p2p_assets.defs.resources import configured
    from p2p_assets.defs.visma.assets import asset_key, job_name, partitions_for
    from p2p_assets.headless import sync_visma
    from p2p_assets.lib import clock as clocks

    visma = configured("visma")
    plan, window = visma.usage_plan()
    sensor = defs.resolve_sensor_def("visma_files_sensor")
    clock = SharedClock(sandbox, START)
    delivered: list[tuple[str, float]] = []  # (file id, when delivered)
    polls = runs = syncs_not_now = 0
    last_poll = 0.0
    next_delivery, next_sync = START + timedelta(hours=3), START + timedelta(hours=12)
    started = time.perf_counter()
    with clocks.using(clock), dg.DagsterInstance.get() as instance:
        # One context for the month (resources initialised once, as a daemon's long-lived code
        # server would); each tick sees the cursor the last one returned.
        context = dg.build_sensor_context(instance=instance, resources={"visma": visma})
        for moment in _ticks(plan, window):
            clock.move_to(moment)
            now = datetime.fromtimestamp(clock.time(), UTC)
            while next_delivery <= now:
                batch = sandbox.deliver(PAYMENTS, 1) if next_delivery.day % 2 else []
                if next_delivery.weekday() == 0:
                    batch += sandbox.deliver(MUTATIONS, 1)
                delivered += [(row["id"], clock.time()) for row in batch]
                next_delivery += timedelta(days=1)
            if next_sync <= now:
                report = sync_visma(defs, instance)
                if not report.success:
                    raise SystemExit(f"sync failed: {report.render()}")
                syncs_not_now += bool(report.not_now)
                next_sync += timedelta(days=1)
            result = sensor(context)
            if isinstance(result, dg.SkipReason):
                continue
            polls, last_poll = polls + 1, clock.time()
            context.update_cursor(result.cursor)
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            for run in result.run_requests or []:
                type_id = int(run.tags["visma/business_type"])
                if run.partition_key not in instance.get_dynamic_partitions(
                    partitions_for(type_id).name or ""
                ):
                    raise SystemExit(f"run for an unregistered partition: {run}")
                outcome = defs.resolve_job_def(job_name(type_id)).execute_in_process(
                    instance=instance,
                    partition_key=run.partition_key,
                    raise_on_error=False,
                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                )
                if not outcome.success:
                    raise SystemExit(f"the run of {run.tags} failed")
                runs += 1
        loaded = set()
        for type_id in SUBSCRIBED:
            loaded |= instance.get_materialized_partitions(asset_key(type_id))
    expected = {file_id for file_id, when in delivered if when < last_poll}
    return {
        "plan": plan_name,
        "window": window.describe() if window else None,
        "seconds": round(time.perf_counter() - started, 1),
        "polls": polls,
        "runs": runs,
        "syncs_outside_window": syncs_not_now,
        "delivered_before_last_poll": len(expected),
        "missing": sorted(expected - loaded),
        "counters": sandbox.counters(),
        "limits": {
            "auth_calls_per_month": plan.auth_calls_per_month,
            "calls_per_window": plan.calls_per_window,
            "window_days_per_month": plan.window_days_per_month,
            "calls_per_day": plan.calls_per_day,
        },
    }


def figures(month: dict) -> list[tuple[str, object, bool]]:
    """(figure, value, within the plan) for every quota."""
    counters, limits = month["counters"], month["limits"]

    def per(prefix: str) -> dict[str, int]:
        return {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix)}

    tokens = per("tokens:")
    refused = sum(v for k, v in counters.items() if k.startswith(("refused", "throttled")))
    rows = [
        ("tokens per month (max)", max(tokens.values(), default=0),
         bool(tokens) and max(tokens.values()) <= limits["auth_calls_per_month"]),
        ("calls refused or throttled by the sandbox", refused, refused == 0),
        ("authentication calls over quota", counters.get("auth_quota_exceeded", 0),
         counters.get("auth_quota_exceeded", 0) == 0),
        ("polls", month["polls"], month["polls"] > 0),
        ("delivered files not loaded", len(month["missing"]), not month["missing"]),
    ]  # fmt: skip
    if limits["calls_per_window"]:
        windows, days = per("calls:window:"), per("window_days:")
        rows.append(
            (
                "calls per window (max)",
                max(windows.values(), default=0),
                bool(windows) and max(windows.values()) <= limits["calls_per_window"],
            )
        )
        rows.append(
            (
                "window days per month (max)",
                max(days.values(), default=0),
                max(days.values(), default=0) <= limits["window_days_per_month"],
            )
        )
        rows.append(("noon syncs that made no call", month["syncs_outside_window"],
                     month["syncs_outside_window"] == DAYS))  # fmt: skip
    else:
        per_day = per("calls:day:")
        busiest = max(per_day.values(), default=0)
        rows.append(("calls per day (max)", busiest,
                     bool(per_day) and busiest <= limits["calls_per_day"]))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", choices=("weekly", "daily", "continuous"), required=True)
    parser.add_argument("--window", help="VISMA_WINDOW (weekly, daily)")
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="visma-month-"))
    month = simulate(args.plan, args.window, work)
    ok = True
    print(f"Visma {args.plan} plan ({month['window'] or 'no window'}), {DAYS} days from "
          f"{START:%Y-%m-%d}, simulated in {month['seconds']} s: {month['runs']} runs")  # fmt: skip
    for name, value, passed in figures(month):
        ok = ok and passed
        print(f"{name}: {value} {'PASS' if passed else 'MISS'}")
    print("month: " + json.dumps(month, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
