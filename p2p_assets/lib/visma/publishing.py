"""Publishing a warehouse export to Visma exactly once per content.

The file name carries the first 12 hex digits of the content's sha256, so the same content always
has the same name. Before uploading we look in `visma.published_files` (what we recorded) and
then in Visma's own publisher list (what may have arrived before a crash stopped us recording it):
either hit means the content is already published and nothing is sent.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from p2p_assets.lib.visma.client import VismaClient
from p2p_assets.lib.visma.loader import SCHEMA
from p2p_assets.lib.visma.models import VismaFile
from p2p_assets.lib.visma.upload import MULTIPART_LIMIT, validate_file_name
from p2p_assets.lib.warehouse.connection import transaction

PUBLISHED_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.published_files (
    export_name VARCHAR NOT NULL,
    business_type_id INTEGER NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    rows BIGINT,
    file_id VARCHAR NOT NULL,
    upload_method VARCHAR NOT NULL,
    published_at TIMESTAMPTZ NOT NULL
)"""


@dataclass(frozen=True)
class Publication:
    file_name: str
    sha256: str
    bytes: int
    file_id: str
    upload_method: str  # multipart, resumable, already published, found upstream
    uploaded_now: bool


def export_csv(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """Write the query's result as `;`-separated CSV with a header; returns its row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    query = sql.strip().rstrip(";")
    count = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    con.execute(f"COPY ({query}) TO '{_sql_path(tmp)}' (HEADER, DELIMITER ';')")
    tmp.replace(path)
    return int(count[0]) if count else 0


def content_name(prefix: str, path: Path) -> tuple[str, str]:
    """(file name with a content hash, sha256) for the exported file at `path`."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    sha256 = digest.hexdigest()
    return validate_file_name(f"{prefix}_{sha256[:12]}{path.suffix}"), sha256


def already_published(
    con: duckdb.DuckDBPyConnection, business_type_id: int, sha256: str
) -> str | None:
    """The file id this content was published as, per our records (works read-only)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = 'published_files'",
        [SCHEMA],
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(
        f"SELECT file_id FROM {SCHEMA}.published_files WHERE business_type_id = ? AND sha256 = ?",
        [business_type_id, sha256],
    ).fetchone()
    return str(row[0]) if row else None


def publish(
    client: VismaClient, path: Path, business_type_id: int, file_name: str, sha256: str
) -> Publication:
    """Upload unless Visma already lists a file of ours with this (content-derived) name."""
    size = path.stat().st_size
    found = [
        f
        for f in client.list_files(
            filter=f"fileName eq '{file_name}'", role="publisher", order_by="uploadDate desc"
        )
        if f.business_type_id in (None, business_type_id)
    ]
    if found:
        return Publication(file_name, sha256, size, found[0].file_id, "found upstream", False)
    uploaded: VismaFile = client.upload(path, business_type_id, file_name)
    method = "resumable" if size > MULTIPART_LIMIT else "multipart"
    return Publication(file_name, sha256, size, uploaded.file_id, method, True)


def record(
    con: duckdb.DuckDBPyConnection,
    export_name: str,
    business_type_id: int,
    publication: Publication,
    rows: int,
) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    with transaction(con):
        con.execute(PUBLISHED_DDL)
        con.execute(
            f"DELETE FROM {SCHEMA}.published_files WHERE business_type_id = ? AND sha256 = ?",
            [business_type_id, publication.sha256],
        )
        con.execute(
            f"INSERT INTO {SCHEMA}.published_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                export_name, business_type_id, publication.file_name, publication.sha256,
                publication.bytes, rows, publication.file_id, publication.upload_method,
                datetime.now(UTC),
            ],
        )  # fmt: skip


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
