"""Finding new Basware extracts and asking for one run per extract."""

import json

import dagster as dg

from p2p_assets.defs.basware.assets import basware_extract_job, basware_extract_partitions
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.lib.basware import in_extract_order

WAITING = "WaitingForExport"


@dg.sensor(
    job=basware_extract_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers every Basware extract as a partition and requests one run per extract "
    "waiting for export, oldest first. The run key is the extract id, so a re-evaluated tick never "
    "starts a second run for the same extract; re-run a failed extract from the UI or with "
    "`p2p-assets sync basware`.",
)
def basware_extracts_sensor(
    context: dg.SensorEvaluationContext, basware: BaswareResource
) -> dg.SensorResult:
    with basware.get_client() as client:
        extracts = in_extract_order(client.list_extracts())
    known = set(context.instance.get_dynamic_partitions(basware_extract_partitions.name or ""))
    new_ids = [e.id for e in extracts if e.id not in known]
    waiting = [e for e in extracts if e.processing_status == WAITING]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=extract.id,
                partition_key=extract.id,
                tags={"basware/extract_type": extract.type or "unknown"},
            )
            for extract in waiting
        ],
        dynamic_partitions_requests=[basware_extract_partitions.build_add_request(new_ids)]
        if new_ids
        else [],
        cursor=json.dumps(
            {
                "extracts": len(extracts),
                "waiting": len(waiting),
                "newest": extracts[-1].id if extracts else None,
            }
        ),
        skip_reason=None if waiting or new_ids else "no Basware extract is waiting for export",
    )
