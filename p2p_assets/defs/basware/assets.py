"""Basware Data Access extracts as Dagster assets, one partition per extract.

A run for one extract lands its files, commits every table of it in one DuckDB transaction, and
only then acknowledges the extract upstream. See README.md in this folder.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.defs.basware.tables import known_tables, remember_tables
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.basware import BaswareError, Extract
from p2p_assets.lib.basware.landing import (
    MANIFEST,
    LandedExtract,
    land_extract,
    read_landed,
    reject_file,
    verify_checksums,
)
from p2p_assets.lib.basware.loader import (
    BaswareExtractError,
    BaswareFileError,
    TableLoad,
    load_extract,
    warehouse_table,
)
from p2p_assets.lib.basware.models import extract_id_problem
from p2p_assets.lib.basware.registry import loaded_tables, mark_acknowledged
from p2p_assets.lib.basware.tables import PRO_TABLES, TABLE_DESCRIPTIONS
from p2p_assets.lib.warehouse import sources

basware_extract_partitions = dg.DynamicPartitionsDefinition(name="basware_extract")

KINDS = {"basware", "duckdb"}
EXTRACT_FILES = dg.AssetKey(["basware", "extract_files"])
EXTRACTS = dg.AssetKey(["basware", "extracts"])
ACKNOWLEDGEMENT = dg.AssetKey(["basware", "extract_acknowledgement"])


def table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["basware", warehouse_table(table)])


@dg.asset(
    key=EXTRACT_FILES,
    partitions_def=basware_extract_partitions,
    group_name="basware",
    kinds={"basware"},
    pool="basware_api",
)
def basware_extract_files(
    context: dg.AssetExecutionContext, basware: BaswareResource
) -> dg.MaterializeResult:
    """The extract's files, downloaded once to `data/landing/basware/<extract id>/`.

    Basware limits how often an extract may be downloaded, so files already on disk are never
    fetched again; re-materialising costs no download unless a file was rejected by the loader.
    """
    extract_id = _extract_id(context)
    try:
        with basware.get_client() as client:
            listed = {e.id: e for e in client.list_extracts()}
            extract = listed.get(extract_id)
            if extract is None:
                extract = _extract_from_manifest(extract_id)
            landed = land_extract(
                client,
                extract,
                settings.landing_dir("basware"),
                source=basware.source().to_dict(),
                download_limit=basware.download_limit,
            )
    except BaswareError as exc:
        raise dg.Failure(description=str(exc), metadata={"extract_id": extract_id}) from exc
    remember_tables(set(landed.definitions) | {f["table_name"] for f in landed.files})
    return dg.MaterializeResult(
        metadata={
            "extract_type": extract.type or "",
            "extract_date": str(extract.extract_date or ""),
            "files": len(landed.files),
            "downloaded_now": len(landed.downloaded),
            "already_on_disk": len(landed.reused),
            "bytes": landed.bytes,
            "landing_dir": dg.MetadataValue.path(str(landed.directory)),
        }
    )


def _extract_from_manifest(extract_id: str) -> Extract:
    """An extract Basware no longer lists (acknowledged or past retention) that we landed before."""
    manifest = settings.landing_dir("basware") / extract_id / MANIFEST
    if not manifest.exists():
        raise dg.Failure(
            description=f"Basware extract {extract_id} is not listed by the API and was never "
            "landed here; it may be past its one-year retention."
        )
    return Extract.from_api(json.loads(manifest.read_text())["extract"])


def _extract_id(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    """The partition key, refused unless it is a plain extract id (it names a directory)."""
    problem = extract_id_problem(context.partition_key)
    if problem:
        raise dg.Failure(f"Basware extract {context.partition_key!r} is refused: {problem}")
    return context.partition_key


def _read_landed(extract_id: str) -> LandedExtract:
    return read_landed(settings.landing_dir("basware") / extract_id)


def _table_spec(table: str) -> dg.AssetSpec:
    tier = "Insights Pro" if table in PRO_TABLES else "Insights Essentials"
    return dg.AssetSpec(
        key=table_key(table),
        deps=[EXTRACT_FILES],
        description=f"{TABLE_DESCRIPTIONS.get(table, table)}\n\n"
        f"Current state in `basware.{warehouse_table(table)}` (latest version of each ID in "
        f"extract order); every delivered version in `basware_history.{warehouse_table(table)}`. "
        f"Basware table {table}, {tier} tier.",
        group_name="basware",
        kinds=KINDS,
        partitions_def=basware_extract_partitions,
        skippable=True,  # an Essentials tenant never receives the Pro tables
        metadata={"dagster/table_name": f"basware.{warehouse_table(table)}"},
    )


@dg.multi_asset(
    name="basware_tables",
    specs=[
        *[_table_spec(table) for table in known_tables()],
        dg.AssetSpec(
            key=EXTRACTS,
            deps=[EXTRACT_FILES],
            description="One row per Basware extract committed to the warehouse "
            "(`basware.extracts`), with per-table counts in `basware.extract_tables`.",
            group_name="basware",
            kinds=KINDS,
            partitions_def=basware_extract_partitions,
            metadata={"dagster/table_name": "basware.extracts"},
        ),
    ],
    partitions_def=basware_extract_partitions,
    pool="duckdb",
    can_subset=False,  # an extract becomes visible whole or not at all
)
def basware_tables(
    context: dg.AssetExecutionContext, basware: BaswareResource, warehouse: DuckDBWarehouse
):
    """Commit every table of one extract to DuckDB in a single transaction.

    A landed file that is provably corrupt (its checksum no longer matches, its archive or JSON/CSV
    does not parse, it holds fewer records than announced) is moved aside, so the next run
    downloads it again. Any other failure (a value we cannot convert, a full disk) leaves the
    files landed: downloading again would spend one of the extract's few downloads for nothing.
    """
    landed = _read_landed(_extract_id(context))
    info = landed.info
    source = sources.Source.from_dict(landed.source) if landed.source else basware.source()
    # The landed copies are checked against their sha256 while DuckDB reads them (hashing
    # releases the GIL) and before anything commits: a damaged copy commits nothing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        checked = pool.submit(verify_checksums, landed)

        def intact() -> None:
            damaged = checked.result()
            if damaged:
                raise BaswareFileError(
                    info.id,
                    damaged,
                    "the landed copy no longer matches the sha256 taken when it was downloaded",
                    corrupt=True,
                )

        try:
            try:
                with warehouse.connect() as con:
                    loads = load_extract(
                        con,
                        info,
                        landed.source_files(),
                        landed.definitions,
                        landed.tables,
                        source=source,
                        before_commit=intact,
                    )
            except (BaswareFileError, BaswareExtractError, sources.MixedSourcesError):
                intact()  # a damaged copy explains a failed read better than the reader does
                raise
        except BaswareFileError as exc:
            raise _file_failure(landed, exc) from exc
        except (BaswareExtractError, sources.MixedSourcesError) as exc:
            raise dg.Failure(description=str(exc)) from exc
    with_asset = {spec.key for spec in context.assets_def.specs}
    for table, load in loads.items():
        if table_key(table) in with_asset:
            yield dg.MaterializeResult(asset_key=table_key(table), metadata=_table_metadata(load))
    without_asset = sorted(t for t in loads if table_key(t) not in with_asset)
    if without_asset:
        remember_tables(set(without_asset))
        context.log.warning(
            f"Basware tables {', '.join(without_asset)} are new: loaded into basware.* and "
            "basware_history.*; they become assets when the definitions load next"
        )
    yield dg.MaterializeResult(
        asset_key=EXTRACTS,
        metadata={
            "extract_type": info.type,
            "extract_date": str(info.extract_date),
            "tables": len(loads),
            "records": sum(load.records for load in loads.values()),
            "tables_without_asset_yet": dg.MetadataValue.json(without_asset),
        },
    )


def _file_failure(landed: LandedExtract, exc: BaswareFileError) -> dg.Failure:
    """A file that does not load; a provably corrupt copy is moved aside (downloaded again)."""
    # A ZIP member names its archive first: the archive is what is landed and re-downloaded.
    landed_name = exc.file_name.split("/", 1)[0]
    kept = reject_file(landed, landed_name) if exc.corrupt else None
    return dg.Failure(
        description=str(exc)
        + (
            "; the copy was moved aside and the next run downloads it again"
            if kept
            else "; the file stays landed (downloading it again would not help)"
        ),
        metadata={
            "file": exc.file_name,
            "reason": exc.reason,
            "rejected_copy": dg.MetadataValue.path(str(kept or "")),
        },
    )


def _table_metadata(load: TableLoad) -> dict[str, object]:
    return {
        "records_in_extract": load.records,
        "files": dg.MetadataValue.json(load.files),
        "dagster/row_count": load.current_rows,
        "history_rows": load.history_rows,
        "new_columns": dg.MetadataValue.json(load.new_columns),
        "columns_not_delivered": len(load.missing_columns),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, data_type) for name, data_type in load.columns.items()]
        ),
    }


@dataclass(frozen=True)
class Committed:
    """An extract whose tables are committed: safe to acknowledge."""

    extract_id: str
    tables: dict[str, int]  # table -> records committed


@dg.op(
    name="basware_extract_committed",
    ins={"after": dg.In(dg.Nothing)},  # basware/extracts
    pool="duckdb",
    description="Read the warehouse: the extract's tables are committed (or nothing goes on).",
)
def basware_extract_committed(
    context: dg.OpExecutionContext, warehouse: DuckDBWarehouse
) -> Committed:
    extract_id = _extract_id(context)
    with warehouse.connect(read_only=True) as con:
        committed = loaded_tables(con, extract_id)
    if not committed:
        raise dg.Failure(f"Basware extract {extract_id} is not committed; not acknowledging it")
    return Committed(extract_id, committed)


@dg.op(
    name="basware_extract_acknowledge",
    pool="basware_api",
    description="Acknowledge the committed extract to Basware (the only Basware call).",
)
def basware_extract_acknowledge(basware: BaswareResource, committed: Committed) -> Committed:
    with basware.get_client() as client:
        client.acknowledge(committed.extract_id)
    return committed


@dg.op(
    name="basware_extract_mark_acknowledged",
    pool="duckdb",
    description="Record the acknowledgement in basware.extracts (acknowledged_at).",
)
def basware_extract_mark_acknowledged(
    context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, acknowledged: Committed
) -> None:
    with warehouse.connect() as con:
        mark_acknowledged(con, acknowledged.extract_id)
    context.add_output_metadata(
        {
            "tables_committed": len(acknowledged.tables),
            "records": sum(acknowledged.tables.values()),
        }
    )


@dg.graph_asset(
    key=ACKNOWLEDGEMENT,
    ins={"extracts": dg.AssetIn(EXTRACTS, dagster_type=dg.Nothing)},
    partitions_def=basware_extract_partitions,
    group_name="basware",
    kinds={"basware"},
)
def basware_extract_acknowledgement(extracts):
    """The extract acknowledged to Basware, which then stops listing it as waiting for export.

    Runs only after the extract's tables are committed, and checks the warehouse once more before
    telling Basware: an extract is never acknowledged before its data is safe. Three steps, so the
    Basware call holds no warehouse slot: the check and the record in pool `duckdb`, the
    acknowledgement alone in pool `basware_api`.
    """
    committed = basware_extract_committed(after=extracts)
    return basware_extract_mark_acknowledged(basware_extract_acknowledge(committed))


basware_extract_job = dg.define_asset_job(
    name="basware_extract_job",
    description="Land, commit and acknowledge one Basware extract (one partition).",
    selection=dg.AssetSelection.assets(EXTRACT_FILES, basware_tables, ACKNOWLEDGEMENT),
    # The steps of one extract are sequential (the `duckdb` pool serialises the writers and the
    # checks), so a subprocess per step would only add start-up time; runs still run in parallel.
    executor_def=dg.in_process_executor,
)
