"""Publishing warehouse exports to a Visma business type.

Each `exports/<name>.sql` is one asset `visma/published_<name>`: materialising it runs the query,
writes `data/outbox/visma/<NAME>_<content hash>.csv` and uploads it to the business type in
`VISMA_PUBLISH_BUSINESS_TYPE` (default 7100, the File API sandbox uploads), multipart up to 100 MB
and resumable (4 MB chunks) above. The same content is never uploaded twice.
"""

import os
from pathlib import Path

import dagster as dg

from p2p_assets import settings
from p2p_assets.defs.visma.resources import VismaResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.warehouse.writeback import READS
from p2p_assets.lib.visma.business_types import SANDBOX_UPLOADS
from p2p_assets.lib.visma.errors import VismaError
from p2p_assets.lib.visma.publishing import (
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


def build_published_asset(sql_path: Path) -> dg.AssetsDefinition:
    name = sql_path.stem
    sql = sql_path.read_text()
    summary = " ".join(
        line.removeprefix("--").strip() for line in sql.splitlines() if line.startswith("--")
    )

    @dg.asset(
        key=dg.AssetKey(["visma", f"published_{name}"]),
        deps=[dg.AssetKey(k) for k in SOURCES.get(name, [])],
        group_name="visma",
        kinds={"visma", "duckdb"},
        pool="visma_api",
        description=f"{summary}\n\nQuery: `p2p_assets/defs/visma/exports/{name}.sql`; "
        "uploaded to the Visma business type in VISMA_PUBLISH_BUSINESS_TYPE (default 7100); "
        "every publication is recorded in "
        "`visma.published_files`.",
    )
    def published(
        context: dg.AssetExecutionContext, visma: VismaResource, warehouse: DuckDBWarehouse
    ) -> dg.MaterializeResult:
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
        metadata: dict[str, object] = {
            "file_name": file_name,
            "rows": rows,
            "bytes": path.stat().st_size,
            "sha256": sha256,
            "business_type_id": target,
            "path": dg.MetadataValue.path(str(path)),
        }
        if published_id is not None:
            context.log.info("%s already published as %s; not uploading", file_name, published_id)
            return dg.MaterializeResult(
                metadata={**metadata, "file_id": published_id, "uploaded_now": False}
            )
        try:
            with visma.get_client() as client:
                publication = publish(client, path, target, file_name, sha256)
        except VismaError as exc:
            raise dg.Failure(
                description=f"Visma upload of {file_name} to business type {target}: {exc}",
                metadata={"file": file_name, "path": dg.MetadataValue.path(str(path))},
            ) from exc
        with warehouse.connect() as con:
            with transaction(con):
                sources.claim(con, visma.source(), reads=READS)
            record(con, name, target, publication, rows)
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "file_id": publication.file_id,
                "upload_method": publication.upload_method,
                "uploaded_now": publication.uploaded_now,
            }
        )

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
