"""Publishing warehouse exports to a Visma business type.

Each `exports/<name>.sql` is one asset `visma/published_<name>`: materialising it runs the query,
writes `data/outbox/visma/<NAME>_<content hash>.csv` and uploads it to the business type in
`VISMA_PUBLISH_BUSINESS_TYPE` (default 7100, the File API sandbox uploads), multipart up to 100 MB
and resumable (4 MB chunks) above. The same content is never uploaded twice.

Three steps, as the Visma file assets land and load: `export` reads the warehouse (pool `duckdb`),
`upload` calls Visma and nothing else (pool `visma_api`), `record` writes `visma.published_files`
(pool `duckdb`). The vendor call never holds the warehouse's slot, and no warehouse writer runs
outside the pool.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.visma.resources import VismaResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.warehouse.writeback import READS
from p2p_assets.lib.visma.business_types import SANDBOX_UPLOADS
from p2p_assets.lib.visma.errors import VismaError
from p2p_assets.lib.visma.publishing import (
    Publication,
    already_published,
    content_name,
    export_csv,
    publish,
    record,
)
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import transaction

EXPORTS_DIR = Path(__file__).parent / "exports"
SOURCES = {"cost_allocation": [["basware", "ia_coding_row"], ["basware", "ia_invoice"]]}


def publish_business_type() -> int:
    value = os.environ.get("VISMA_PUBLISH_BUSINESS_TYPE") or str(SANDBOX_UPLOADS)
    if not value.strip().isdigit():
        raise ValueError(f"VISMA_PUBLISH_BUSINESS_TYPE must be a business type id, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Export:
    """What the export step found: the file to publish, and its id if already published."""

    name: str
    target: int
    file_name: str
    path: str
    sha256: str
    rows: int
    bytes: int
    published_id: str | None

    def metadata(self) -> dict[str, object]:
        return {
            "file_name": self.file_name,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "business_type_id": self.target,
            "path": dg.MetadataValue.path(self.path),
        }


def _export_op(name: str, sql: str) -> dg.OpDefinition:
    @dg.op(
        name=f"visma_publish_{name}_export",
        ins={"after": dg.In(dg.Nothing)},  # the tables the query reads
        pool="duckdb",
        description=f"Run exports/{name}.sql into data/outbox/visma/ (reads the warehouse).",
    )
    def export(visma: VismaResource, warehouse: DuckDBWarehouse) -> Export:
        target = publish_business_type()
        outbox = settings.data_dir() / "outbox" / "visma"
        exported = outbox / f".{name}.export.csv"
        with warehouse.connect(read_only=True) as con:
            try:
                rows = export_csv(con, sql, exported)
            except Exception as exc:  # a query error names the query, not a stack of DuckDB
                raise dg.Failure(f"Visma export {name}: the query failed: {exc}") from exc
            file_name, sha256 = content_name(name.upper(), exported)
            path = exported.replace(outbox / file_name)
            published_id = already_published(con, target, sha256)
            try:  # never send sandbox data to a live Visma, nor live data to the sandbox
                sources.check(con, visma.source(), reads=READS)
            except sources.MixedSourcesError as exc:
                raise dg.Failure(description=str(exc)) from exc
        return Export(
            name, target, file_name, str(path), sha256, rows, path.stat().st_size, published_id
        )

    return export


def _upload_op(name: str) -> dg.OpDefinition:
    @dg.op(
        name=f"visma_publish_{name}_upload",
        pool="visma_api",
        description=f"Upload the {name} export to Visma unless it is published already.",
    )
    def upload(
        context: dg.OpExecutionContext, visma: VismaResource, export: Export
    ) -> Publication | None:
        if export.published_id is not None:
            context.log.info(
                "%s already published as %s; not uploading", export.file_name, export.published_id
            )
            return None
        try:
            with visma.get_client() as client:
                return publish(
                    client, Path(export.path), export.target, export.file_name, export.sha256
                )
        except VismaError as exc:
            raise dg.Failure(
                description=f"Visma upload of {export.file_name} to business type "
                f"{export.target}: {exc}",
                metadata={"file": export.file_name, "path": dg.MetadataValue.path(export.path)},
            ) from exc

    return upload


def _record_op(name: str) -> dg.OpDefinition:
    @dg.op(
        name=f"visma_publish_{name}_record",
        pool="duckdb",
        description=f"Record the {name} publication in visma.published_files.",
    )
    def record_publication(
        context: dg.OpExecutionContext,
        visma: VismaResource,
        warehouse: DuckDBWarehouse,
        export: Export,
        publication: Publication | None,
    ) -> None:
        if publication is None:
            context.add_output_metadata(
                {**export.metadata(), "file_id": export.published_id, "uploaded_now": False}
            )
            return
        with warehouse.connect() as con:
            with transaction(con):
                sources.claim(con, visma.source(), reads=READS)
            record(con, name, export.target, publication, export.rows)
        context.add_output_metadata(
            {
                **export.metadata(),
                "file_id": publication.file_id,
                "upload_method": publication.upload_method,
                "uploaded_now": publication.uploaded_now,
            }
        )

    return record_publication


def build_published_asset(sql_path: Path) -> dg.AssetsDefinition:
    """Three steps, so the vendor call holds no warehouse slot: export (pool `duckdb`), upload
    (pool `visma_api`), record (pool `duckdb`)."""
    name = sql_path.stem
    sql = sql_path.read_text()
    summary = " ".join(
        line.removeprefix("--").strip() for line in sql.splitlines() if line.startswith("--")
    )
    export, upload, record_publication = _export_op(name, sql), _upload_op(name), _record_op(name)

    @dg.graph_asset(
        key=dg.AssetKey(["visma", f"published_{name}"]),
        ins={
            f"reads_{i}": dg.AssetIn(dg.AssetKey(key), dagster_type=dg.Nothing)
            for i, key in enumerate(SOURCES.get(name, []))
        },
        group_name="visma",
        kinds={"visma", "duckdb"},
        description=f"{summary}\n\nQuery: `p2p_assets/defs/visma/exports/{name}.sql`; "
        "uploaded to the Visma business type in VISMA_PUBLISH_BUSINESS_TYPE (default 7100); "
        "every publication is recorded in `visma.published_files`.",
    )
    def published(**reads):
        exported = export(after=list(reads.values())) if reads else export()
        return record_publication(exported, upload(exported))

    return published


@dg.definitions
def visma_publishing() -> dg.Definitions:
    assets = [build_published_asset(path) for path in sorted(EXPORTS_DIR.glob("*.sql"))]
    job = dg.define_asset_job(
        name="visma_publish_job",
        description="Export every query in defs/visma/exports/ and publish what changed to Visma.",
        selection=dg.AssetSelection.assets(*assets),
    )
    return dg.Definitions(assets=assets, jobs=[job])
