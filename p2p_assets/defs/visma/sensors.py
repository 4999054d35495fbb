"""Finding new Visma files and asking for one run per file, oldest first.

`plan_files` is the planning, a pure function of the listing, the known partitions and the files
catalogued so far; the sensor and `p2p-assets sync visma` both call it.

Downloading a file takes it off Visma's list, so a file whose load failed (a corrupt copy moved
aside) is never listed again. `p2p-assets sync` therefore also retries the files catalogued here
that never loaded (`loaded` given); the sensor does not (its run key is the file id, and a file
broken upstream would be downloaded again on every tick): re-run it from the UI, or sync.
"""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.visma.assets import (
    SUBSCRIPTIONS,
    asset_key,
    build_job,
    job_name,
    partitions_for,
)
from p2p_assets.defs.visma.resources import VismaResource
from p2p_assets.lib import clock as clocks
from p2p_assets.lib.visma.business_types import business_type
from p2p_assets.lib.visma.discovery import Listing, list_available
from p2p_assets.lib.visma.landing import catalogue, catalogued, settled, upload_order
from p2p_assets.lib.visma.models import VismaFile
from p2p_assets.lib.visma.plans import poll_due
from p2p_assets.live import NotConfiguredError


@dataclass(frozen=True)
class FilePlan:
    """Per business type: partitions to register and files to load (oldest first); older
    snapshots left unloaded; listing errors."""

    new_partitions: dict[int, list[str]] = field(default_factory=dict)
    to_load: list[tuple[int, VismaFile]] = field(default_factory=list)
    skipped_snapshots: dict[int, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def plan_files(
    listing: Listing,
    known_partitions: Mapping[int, Collection[str]],
    catalogued_files: Mapping[int, list[VismaFile]],
    loaded: Mapping[int, Collection[str]] | None = None,
    settled: Mapping[int, Collection[str]] | None = None,
) -> FilePlan:
    """Register every listed file; load each one (full snapshots: only the newest). With
    `loaded` (the files loaded so far, per type), also the catalogued files that never loaded.
    `settled` files (content gone at Visma, or skipped by a person) are never asked for again."""
    plan = FilePlan(errors=dict(listing.errors), refused=list(listing.refused))
    for type_id, files in listing.files.items():
        known = set(known_partitions.get(type_id, ()))
        new = [f.file_id for f in files if f.file_id not in known]
        if new:
            plan.new_partitions[type_id] = new
        seen = catalogued_files.get(type_id, [])
        to_load = listing.to_load(type_id, seen)
        if len(files) > len(to_load):
            plan.skipped_snapshots[type_id] = len(files) - len(to_load)
        if loaded is not None:
            to_load = _with_retries(listing, type_id, to_load, seen, set(loaded.get(type_id, ())))
        done = set((settled or {}).get(type_id, ()))
        plan.to_load.extend((type_id, file) for file in to_load if file.file_id not in done)
    return plan


def _with_retries(
    listing: Listing, type_id: int, to_load: list[VismaFile], seen: list[VismaFile], loaded: set
) -> list[VismaFile]:
    listed = {f.file_id for f in listing.files.get(type_id, [])}
    retries = [f for f in seen if f.file_id not in loaded and f.file_id not in listed]
    if business_type(type_id).kind == "snapshot":
        # Only the newest snapshot matters: retry it when it is the one that never loaded.
        newest = max([*seen, *to_load], key=upload_order, default=None)
        retries = [f for f in retries if newest is not None and f.file_id == newest.file_id]
    return sorted([*to_load, *retries], key=upload_order)


def plan_listing(
    listing: Listing, instance: dg.DagsterInstance, *, retry_unloaded: bool = False
) -> FilePlan:
    """Catalogue every listed file on disk (the loader reads the list item from there), then
    plan against the instance's partitions (and, `retry_unloaded`, its materialisations)."""
    root = settings.landing_dir("visma")
    for files in listing.files.values():
        for file in files:
            catalogue(root, file)
    # What was catalogued before matters to types with files listed now (and to retries): a
    # poll that lists nothing new reads nothing of the landing folder, however large it grows.
    types = [t for t, files in listing.files.items() if files or retry_unloaded]
    seen = {t: catalogued(root, t) for t in types}
    return plan_files(
        listing,
        {t: instance.get_dynamic_partitions(partitions_for(t).name or "") for t in types},
        seen,
        {t: instance.get_materialized_partitions(asset_key(t)) for t in types}
        if retry_unloaded
        else None,
        {t: [f.file_id for f in files if settled(root, t, f.file_id)] for t, files in seen.items()},
    )


def _visma_files_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="visma_files_sensor",
        jobs=[build_job(t) for t in SUBSCRIPTIONS],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lists the available files of every subscribed Visma business type (all "
        "pages, oldest first), registers each as a partition and requests one run per file "
        "(for full-snapshot types only the newest). It polls as the plan allows (VISMA_PLAN): "
        "on the weekly and daily plans only inside VISMA_WINDOW, at its opening and then every "
        "VISMA_POLL_INTERVAL_SECONDS (default 30 min); on the continuous plan every 15 minutes "
        "(every minute with the sandbox). One call lists every subscribed type. "
        "Every other tick makes no call at all and says when the next poll is due. The run key "
        "is the file id (with the window's date on the windowed plans: one attempt per window), "
        "so a re-evaluated tick never loads a file twice. A business type the app may not read "
        "(403) is reported in the tick's log and the others go on.",
    )
    def visma_files_sensor(
        context: dg.SensorEvaluationContext, visma: VismaResource
    ) -> dg.SensorResult | dg.SkipReason:
        try:
            visma.mode  # noqa: B018 - raises when Visma is not configured
        except NotConfiguredError as exc:
            return dg.SkipReason(str(exc))
        ledger = visma.ledger()
        plan, window = ledger.plan, ledger.window
        now = clocks.current().time()
        previous = _read_cursor(context.cursor)
        decision = poll_due(plan, window, previous.get("last_poll"), now, visma.poll_seconds())
        if not decision.due:
            return dg.SkipReason(f"Visma: no call now: {decision.reason}")
        refusal = ledger.call_refusal(now)
        if refusal:
            return dg.SkipReason(f"Visma: no call now: {refusal}")
        with visma.get_client(slot_wait_seconds=SENSOR_SLOT_WAIT) as client:
            listing = list_available(client, SUBSCRIPTIONS)
        for type_id, error in listing.errors.items():
            context.log.error(f"Visma business type {type_id} not listed: {error}")
        for message in listing.refused:
            context.log.error(message)
        if listing.errors and not listing.files:
            raise dg.Failure(
                "Visma: no business type could be listed: " + "; ".join(listing.errors.values())
            )
        files = plan_listing(listing, context.instance)
        attempt = f"@{window.key(now)}" if window is not None else ""
        run_requests = [
            dg.RunRequest(
                run_key=file.file_id + attempt,
                job_name=job_name(type_id),
                partition_key=file.file_id,
                tags={"visma/business_type": str(type_id), "visma/file_name": file.file_name},
            )
            for type_id, file in files.to_load
        ]
        return dg.SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=[
                partitions_for(t).build_add_request(keys)
                for t, keys in files.new_partitions.items()
            ],
            cursor=json.dumps(
                {
                    "last_poll": now,
                    "available": {str(t): len(f) for t, f in listing.files.items()},
                    "errors": sorted(listing.errors),
                }
            ),
            skip_reason=None if run_requests else "no new Visma file",
        )

    return visma_files_sensor


SENSOR_SLOT_WAIT = 20.0
"""Seconds a tick waits for one of the plan's concurrent calls (a run may be downloading)."""


def _read_cursor(cursor: str | None) -> dict:
    try:
        data = json.loads(cursor or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dg.definitions
def visma_sensors() -> dg.Definitions:
    return dg.Definitions(sensors=[_visma_files_sensor()])
