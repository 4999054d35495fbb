"""Finding new Visma files and asking for one run per file, oldest first."""

import json

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.visma.assets import (
    SUBSCRIPTIONS,
    build_job,
    job_name,
    partitions_for,
)
from p2p_assets.defs.visma.resources import VismaResource
from p2p_assets.lib.visma.discovery import Listing, list_available
from p2p_assets.lib.visma.landing import catalogue, catalogued


def register(
    listing: Listing, instance: dg.DagsterInstance
) -> list[dg.AddDynamicPartitionsRequest]:
    """Catalogue every listed file on disk and return the partitions still to add."""
    requests = []
    for type_id, files in listing.files.items():
        for file in files:
            catalogue(settings.landing_dir("visma"), file)
        name = partitions_for(type_id).name or ""
        known = set(instance.get_dynamic_partitions(name))
        new = [f.file_id for f in files if f.file_id not in known]
        if new:
            requests.append(partitions_for(type_id).build_add_request(new))
    return requests


def _visma_files_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="visma_files_sensor",
        jobs=[build_job(t) for t in SUBSCRIPTIONS],
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lists the available files of every subscribed Visma business type (all "
        "pages, oldest first), registers each as a partition and requests one run per file "
        "(for full-snapshot types only the newest). The run key is the file id, so a "
        "re-evaluated tick never loads a file twice. A business type the app may not read "
        "(403) is reported in the tick's log and the others go on.",
    )
    def visma_files_sensor(
        context: dg.SensorEvaluationContext, visma: VismaResource
    ) -> dg.SensorResult:
        with visma.get_client() as client:
            listing = list_available(client, SUBSCRIPTIONS)
        for type_id, error in listing.errors.items():
            context.log.error(f"Visma business type {type_id} not listed: {error}")
        if listing.errors and not listing.files:
            raise dg.Failure(
                "Visma: no business type could be listed: " + "; ".join(listing.errors.values())
            )
        partition_requests = register(listing, context.instance)
        run_requests = [
            dg.RunRequest(
                run_key=file.file_id,
                job_name=job_name(type_id),
                partition_key=file.file_id,
                tags={"visma/business_type": str(type_id), "visma/file_name": file.file_name},
            )
            for type_id in listing.files
            for file in listing.to_load(type_id, catalogued(settings.landing_dir("visma"), type_id))
        ]
        return dg.SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=partition_requests,
            cursor=json.dumps(
                {
                    "available": {str(t): len(f) for t, f in listing.files.items()},
                    "errors": sorted(listing.errors),
                }
            ),
            skip_reason=None if run_requests else "no new Visma file",
        )

    return visma_files_sensor


@dg.definitions
def visma_sensors() -> dg.Definitions:
    return dg.Definitions(sensors=[_visma_files_sensor()])
