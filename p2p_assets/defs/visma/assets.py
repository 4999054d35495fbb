"""Visma Youforce business types as Dagster assets, one partition per delivered file.

Each subscribed business type is one asset backed by two steps: `land` downloads the file's bytes
to `data/landing/visma/` (pool `visma_api`: one download at a time, paced under the spike arrest),
then `load` parses them and commits the file in one DuckDB transaction (pool `duckdb`). See
README.md in this folder.
"""

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.visma.resources import VismaResource, subscriptions_from_env
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.visma.business_types import BusinessType, business_type
from p2p_assets.lib.visma.errors import VismaError
from p2p_assets.lib.visma.formats import VismaFormatError, parse_file
from p2p_assets.lib.visma.landing import (
    LandedFile,
    catalogued,
    gone_message,
    is_gone,
    is_skipped,
    land_file,
    read_catalogue,
    reject,
    upload_order,
)
from p2p_assets.lib.visma.loader import FileLoad, load_file, loaded_file_ids
from p2p_assets.lib.warehouse.sources import MixedSourcesError, Source

KINDS = {"visma", "duckdb"}
ORDERED_TAG = "visma/applies_in_order"
"""Runs of a mutation type carry this tag; dagster.yaml lets one run per value go at a time, so
the sensor's oldest-first run requests also execute oldest first."""


def asset_key(type_id: int) -> dg.AssetKey:
    return dg.AssetKey(["visma", business_type(type_id).slug])


def partitions_for(type_id: int) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"visma_{type_id}_file")


def job_name(type_id: int) -> str:
    return f"visma_{type_id}_job"


def _landing_root() -> Path:
    return settings.landing_dir("visma")


def _land_op(bt: BusinessType) -> dg.OpDefinition:
    @dg.op(
        name=f"visma_{bt.id}_land",
        pool="visma_api",
        description=f"Download the {bt.name} file to data/landing/visma/{bt.id}/ (once).",
    )
    def land(context: dg.OpExecutionContext, visma: VismaResource) -> LandedFile:
        file = read_catalogue(_landing_root(), bt.id, context.partition_key)
        try:
            with visma.get_client() as client:
                landed = land_file(client, _landing_root(), file, source=visma.source().to_dict())
        except VismaError as exc:
            raise dg.Failure(
                description=f"Visma business type {bt.id} ({bt.name}), file {file.file_name} "
                f"({file.file_id}): {exc}",
                metadata={"file": file.file_name, "file_id": file.file_id},
            ) from exc
        context.log.info(
            "%s %s (%d bytes)",
            "Downloaded" if landed.downloaded_now else "Already landed:",
            landed.path,
            landed.size,
        )
        return landed

    return land


def _load_op(bt: BusinessType) -> dg.OpDefinition:
    @dg.op(
        name=f"visma_{bt.id}_load",
        pool="duckdb",
        description=f"Parse the landed {bt.name} file and commit it to the warehouse.",
    )
    def load(
        context: dg.OpExecutionContext,
        visma: VismaResource,
        warehouse: DuckDBWarehouse,
        landed: LandedFile,
    ) -> None:
        file = landed.file
        source = Source.from_dict(landed.source) if landed.source else visma.source()
        try:
            parsed = parse_file(
                landed.path, file_id=file.file_id, file_name=file.file_name,
                business_type_id=bt.id,
            )  # fmt: skip
        except VismaFormatError as exc:
            kept = reject(landed)
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "file": file.file_name,
                    "file_id": file.file_id,
                    "reason": exc.reason,
                    "rejected_copy": dg.MetadataValue.path(str(kept)),
                },
            ) from exc
        with warehouse.connect() as con:
            if bt.kind == "mutations":
                _refuse_out_of_order(bt, landed, loaded_file_ids(con, bt.id))
            try:
                result = load_file(con, landed, parsed, bt.kind, datetime.now(UTC), source=source)
            except MixedSourcesError as exc:
                raise dg.Failure(description=str(exc)) from exc
        context.add_output_metadata(_metadata(landed, result))

    return load


def _refuse_out_of_order(bt: BusinessType, landed: LandedFile, loaded: set[str]) -> None:
    """Mutations apply strictly oldest first: an older file listed but not loaded stops this one."""
    this = upload_order(landed.file)
    root = _landing_root()
    waiting = [
        f
        for f in catalogued(root, bt.id)
        if upload_order(f) < this
        and f.file_id not in loaded
        and not is_skipped(root, bt.id, f.file_id)
    ]
    if waiting:
        first = waiting[0]
        then = gone_message(first) if is_gone(root, bt.id, first.file_id) else "Load them first"
        raise dg.Failure(
            description=f"Visma business type {bt.id} ({bt.name}) applies mutations oldest "
            f"first: {len(waiting)} older file(s) are not loaded yet, the oldest "
            f"{first.file_name} ({first.file_id}, uploaded {first.upload_date}). {then}; "
            f"{landed.file.file_name} stays landed and loads after them.",
            metadata={"waiting_for": dg.MetadataValue.json([f.file_id for f in waiting])},
        )


def _metadata(landed: LandedFile, load: FileLoad) -> dict[str, object]:
    file = landed.file
    metadata: dict[str, object] = {
        "file_name": file.file_name,
        "file_id": file.file_id,
        "upload_date": str(file.upload_date or ""),
        "bytes": landed.size,
        "sha256": landed.sha256,
        "downloaded_now": landed.downloaded_now,
        "landing_path": dg.MetadataValue.path(str(landed.path)),
        "format": load.format or "not parsed (unknown format; inventoried in visma.files)",
        "records": load.records,
    }
    for table, rows in load.tables.items():
        metadata[f"rows in {table}"] = rows
    if load.current_file_id is not None:
        metadata["current_snapshot_file_id"] = load.current_file_id
    return metadata


@cache  # one object per type: the sensor and the definitions share it
def build_business_type_asset(type_id: int) -> dg.AssetsDefinition:
    bt = business_type(type_id)
    land, load = _land_op(bt), _load_op(bt)

    @dg.graph_asset(
        key=asset_key(type_id),
        partitions_def=partitions_for(type_id),
        group_name="visma",
        kinds=KINDS,
        description=f"Visma business type {bt.id}, {bt.name}: {bt.description}\n\n"
        "One partition per delivered file (the file id); every file is inventoried in "
        "`visma.files` and its bytes kept under data/landing/visma/.",
        metadata={"visma/business_type_id": bt.id, "visma/kind": bt.kind},
    )
    def business_type_files():
        return load(land())

    return business_type_files


@cache
def build_job(type_id: int):  # an unresolved asset job
    bt = business_type(type_id)
    return dg.define_asset_job(
        name=job_name(type_id),
        description=f"Land and load one {bt.name} file (business type {bt.id}).",
        selection=dg.AssetSelection.assets(asset_key(type_id)),
        executor_def=dg.in_process_executor,
        tags={ORDERED_TAG: str(type_id)} if bt.kind == "mutations" else None,
    )


SUBSCRIPTIONS = subscriptions_from_env()


@dg.definitions
def visma_business_types() -> dg.Definitions:
    return dg.Definitions(
        assets=[build_business_type_asset(t) for t in SUBSCRIPTIONS],
        jobs=[build_job(t) for t in SUBSCRIPTIONS],
    )
