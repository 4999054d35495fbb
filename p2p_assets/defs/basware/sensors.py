"""Finding new Basware extracts and asking for one run per extract.

`plan_extracts` is the planning, a pure function of the listing and the known partitions; the
sensor and `p2p-assets sync basware` both call it, so the UI and the headless path always agree
on what to load.
"""

import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.basware.assets import basware_extract_job, basware_extract_partitions
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.lib.basware import Extract, ExtractListing
from p2p_assets.live import ConfigurationError, Mode, NotConfiguredError, mode_from_env

WAITING = "WaitingForExport"
POLL_VARIABLE = "BASWARE_POLL_INTERVAL_SECONDS"


def poll_interval_seconds() -> int:
    """How often the sensor asks Basware for new extracts: `BASWARE_POLL_INTERVAL_SECONDS`,
    default 15 minutes (Basware makes one extract a day); the sandbox, which costs nothing,
    every minute."""
    if os.environ.get(POLL_VARIABLE):
        return int(settings.seconds_from_env(POLL_VARIABLE, 900, minimum=30))
    try:
        return 60 if mode_from_env("basware") is Mode.SANDBOX else 900
    except ValueError:
        return 900


@dataclass(frozen=True)
class ExtractPlan:
    """What to do about one listing: partitions to register, extracts to load (in extract order),
    and the listing's refused items (each a message naming the item and the reason)."""

    new_partitions: list[str]
    to_load: list[Extract]
    refused: list[str] = field(default_factory=list)


def plan_extracts(listing: ExtractListing, known_partitions: Collection[str]) -> ExtractPlan:
    """Register every usable listed extract; load those waiting for export, oldest first."""
    known = set(known_partitions)
    return ExtractPlan(
        new_partitions=[e.id for e in listing.extracts if e.id not in known],
        to_load=[e for e in listing.extracts if e.processing_status == WAITING],
        refused=list(listing.refused),
    )


@dg.sensor(
    job=basware_extract_job,
    minimum_interval_seconds=poll_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Asks Basware for the extracts waiting for export (every "
    f"{POLL_VARIABLE}, default 15 minutes), registers each as a partition and requests one run "
    "per extract, oldest first. The run key is the extract id, so a re-evaluated tick never "
    "starts a second run for the same extract; re-run a failed extract from the UI or with "
    "`p2p-assets sync basware`. The token is shared with runs and later ticks.",
)
def basware_extracts_sensor(
    context: dg.SensorEvaluationContext, basware: BaswareResource
) -> dg.SensorResult | dg.SkipReason:
    try:
        basware.mode  # noqa: B018 - raises when Basware is not configured
    except NotConfiguredError as exc:
        return dg.SkipReason(str(exc))
    with basware.get_client() as client:
        listing = client.extract_listing(WAITING)
    plan = plan_extracts(
        listing, context.instance.get_dynamic_partitions(basware_extract_partitions.name or "")
    )
    for message in plan.refused:
        context.log.error(message)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=extract.id,
                partition_key=extract.id,
                tags={"basware/extract_type": extract.type or "unknown"},
            )
            for extract in plan.to_load
        ],
        dynamic_partitions_requests=[basware_extract_partitions.build_add_request(new)]
        if (new := plan.new_partitions)
        else [],
        cursor=json.dumps(
            {
                "waiting": len(plan.to_load),
                "refused": len(plan.refused),
                "newest": listing.extracts[-1].id if listing.extracts else None,
            }
        ),
        skip_reason=None
        if plan.to_load or plan.new_partitions
        else "no Basware extract is waiting for export",
    )


def _configured() -> bool:
    """Whether Basware runs here at all (live or sandbox); a configuration error counts as
    configured, so its runs fail with the message instead of staying silent."""
    try:
        return mode_from_env("basware") is not Mode.OFF
    except ConfigurationError:
        return True


basware_automation_sensor = dg.AutomationConditionSensorDefinition(
    "basware_automation_sensor",
    target=dg.AssetSelection.assets(["basware", "table_definition"]),
    # Not configured (another vendor is live, Basware is not): no run that could only fail.
    default_status=dg.DefaultSensorStatus.RUNNING
    if _configured()
    else dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description="Evaluates the Basware table definition's automation condition: materialised "
    "once when missing, then daily at 05:00 UTC (Basware announces new tables and columns "
    "there first). Stop this sensor to stop that refresh; it starts stopped when Basware is "
    "not configured.",
)
