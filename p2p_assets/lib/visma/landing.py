"""Visma files on our disk, before anything else happens to them.

Downloading a file changes its state upstream (it leaves the default subscriber list), so the bytes
are landed first and every later step reads them from here; re-materialising never downloads again
unless the loader rejected the landed copy.

    {landing}/{business type}/{file id}/file.json     the list item, written when first listed
    {landing}/{business type}/{file id}/{file name}   the bytes (atomic: `.partial`, then rename)
    {landing}/{business type}/{file id}/landed.json   size, sha256 and first download time
    {landing}/{business type}/{file id}/rejected/     copies the loader refused, kept for people
    {landing}/{business type}/{file id}/gone.json     Visma answered 404: its content is deleted
    {landing}/{business type}/{file id}/skipped.json  a person let later files load without it

Visma deletes a file's content one month after delivery (its metadata six months). A file whose
content is gone is marked once and never asked for again; for a mutation type it would hold back
every later file, so a person can skip it (`p2p-assets visma skip FILE_ID`, `skip()` here).
"""

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from p2p_assets.lib.files import name_problem
from p2p_assets.lib.visma.client import VismaClient
from p2p_assets.lib.visma.download import LANDING_NAMES, safe_file_name
from p2p_assets.lib.visma.errors import VismaAPIError, VismaError
from p2p_assets.lib.visma.models import VismaFile

CATALOG, LANDED, REJECTED, GONE, SKIPPED = LANDING_NAMES


class VismaContentGoneError(VismaError):
    """Visma no longer holds the file's content (deleted after the retention month)."""


@dataclass(frozen=True)
class LandedFile:
    file: VismaFile
    path: Path
    size: int
    sha256: str
    downloaded_at: datetime
    downloaded_now: bool
    source: dict | None = None  # where the bytes came from (lib/warehouse/sources.py)


def file_dir(root: Path, business_type_id: int, file_id: str) -> Path:
    problem = name_problem(file_id)
    if problem:
        raise VismaError(f"Visma file id {file_id!r} is refused: {problem}")
    return root / str(business_type_id) / file_id


def catalogue(root: Path, file: VismaFile) -> None:
    """Remember a listed file (its name, size and upload date) before it is downloaded."""
    if file.business_type_id is None:
        raise VismaError(f"Visma file {file.file_name} ({file.file_id}) has no business type")
    path = file_dir(root, file.business_type_id, file.file_id) / CATALOG
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(file.raw), indent=1, default=str))
    tmp.replace(path)


def read_catalogue(root: Path, business_type_id: int, file_id: str) -> VismaFile:
    path = file_dir(root, business_type_id, file_id) / CATALOG
    if not path.exists():
        raise VismaError(
            f"Visma file {file_id} (business type {business_type_id}) was never listed here; "
            "the sensor or `p2p-assets sync visma` registers files before they are loaded"
        )
    return with_business_type(VismaFile.from_api(json.loads(path.read_text())), business_type_id)


def catalogued(root: Path, business_type_id: int) -> list[VismaFile]:
    """Every file of the business type ever listed here, oldest upload first."""
    files = [
        with_business_type(VismaFile.from_api(json.loads(p.read_text())), business_type_id)
        for p in sorted((root / str(business_type_id)).glob(f"*/{CATALOG}"))
    ]
    return sorted(files, key=upload_order)


def upload_order(file: VismaFile) -> tuple[datetime, str]:
    return (file.upload_date or datetime.min.replace(tzinfo=UTC), file.file_id)


def land_file(
    client: VismaClient, root: Path, file: VismaFile, *, source: dict | None = None
) -> LandedFile:
    """The file's bytes on disk: the landed copy when there is one, else downloaded now.
    `source` (where the bytes come from) is recorded beside them."""
    assert file.business_type_id is not None
    directory = file_dir(root, file.business_type_id, file.file_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / safe_file_name(file.file_name)
    record = directory / LANDED
    if record.exists() and path.exists():
        landed = json.loads(record.read_text())
        if path.stat().st_size == landed["size"]:
            return LandedFile(
                file, path, landed["size"], landed["sha256"],
                datetime.fromisoformat(landed["downloaded_at"]), downloaded_now=False,
                source=landed.get("source"),
            )  # fmt: skip
    try:
        path, size, sha256 = client.download(file, directory)
    except VismaAPIError as exc:
        if exc.status != 404:
            raise
        _write_json(directory / GONE, {"at": datetime.now(UTC).isoformat(), "answer": str(exc)})
        raise VismaContentGoneError(gone_message(file, str(exc))) from exc
    downloaded_at = datetime.now(UTC)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "size": size,
                "sha256": sha256,
                "downloaded_at": downloaded_at.isoformat(),
                "source": source,
            }
        )
    )
    tmp.replace(record)
    return LandedFile(file, path, size, sha256, downloaded_at, downloaded_now=True, source=source)


def gone_message(file: VismaFile, answer: str | None = None) -> str:
    uploaded = (
        f"uploaded {file.upload_date:%Y-%m-%d}" if file.upload_date else "upload date unknown"
    )
    message = (
        f"Visma no longer holds the content of {file.file_name} ({file.file_id}, {uploaded}): "
        "Visma deletes a file's content one month after delivery"
    )
    if answer:
        message += f" ({answer})"
    return message + (
        ". It is not asked for again. If a later file of its business type waits for it, and "
        "its content is lost for good, let them load without it: "
        f"p2p-assets visma skip {file.file_id}"
    )


def is_gone(root: Path, business_type_id: int, file_id: str) -> bool:
    return (file_dir(root, business_type_id, file_id) / GONE).exists()


def is_skipped(root: Path, business_type_id: int, file_id: str) -> bool:
    return (file_dir(root, business_type_id, file_id) / SKIPPED).exists()


def settled(root: Path, business_type_id: int, file_id: str) -> bool:
    """Never to be asked for again: its content is gone at Visma, or a person skipped it."""
    return is_gone(root, business_type_id, file_id) or is_skipped(root, business_type_id, file_id)


def skip(root: Path, business_type_id: int, file_id: str, *, by: str, reason: str) -> Path:
    """Record that a person let the later files of this type load without this one."""
    path = file_dir(root, business_type_id, file_id) / SKIPPED
    _write_json(path, {"at": datetime.now(UTC).isoformat(), "by": by, "reason": reason})
    return path


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def reject(landed: LandedFile) -> Path:
    """Move a landed copy the loader refused aside (kept), so the next run downloads it again."""
    directory = landed.path.parent / REJECTED
    directory.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    kept = directory / f"{stamp}-{landed.path.name}"
    (landed.path.parent / LANDED).unlink(missing_ok=True)
    shutil.move(landed.path, kept)
    return kept


def with_business_type(file: VismaFile, business_type_id: int) -> VismaFile:
    if file.business_type_id == business_type_id:
        return file
    return VismaFile(
        file_id=file.file_id, file_name=file.file_name, business_type_id=business_type_id,
        business_type_name=file.business_type_name, file_size=file.file_size,
        upload_date=file.upload_date, downloaded=file.downloaded, deleted=file.deleted,
        raw=file.raw,
    )  # fmt: skip
