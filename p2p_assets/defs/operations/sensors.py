"""The daemon's side of recovery: free what dead runs hold, even when no sync runs.

Runs launched from the UI or by a sensor die too (a code server restarted, a worker killed);
the next `p2p-assets sync` would free their slots, but the daemon should not wait for one.
"""

import dagster as dg

# Imported here as well as by the autoloader: wherever a sensor runs, the fix is in place.
from p2p_assets.defs.operations import dagster_fixes  # noqa: F401
from p2p_assets.defs.operations.recovery import recover


@dg.sensor(
    name="abandoned_runs_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute: fail runs whose process is gone (killed, crashed) and free the "
    "pool slots they, and runs that already ended, still hold, so no run waits for them forever.",
)
def abandoned_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Never requests a run: what it did is the skip reason, so the tick history shows it."""
    recovered = recover(context.instance)
    for item in recovered:
        context.log.warning(f"recovered {item}")
    if not recovered:
        return dg.SkipReason("no abandoned run and no orphaned pool slot")
    return dg.SkipReason("recovered " + "; ".join(str(item) for item in recovered))
