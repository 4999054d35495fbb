"""Landing a Basware extract on local disk, once.

Every extract may only be downloaded a few times (five in the earlier edition of the manual, fifty
now), so each file is downloaded once into `{landing}/{extract_id}/` and recorded with its sha256 in
`manifest.json`. Re-materialising or backfilling reads the landed files and never spends the
vendor's download limit again.

    {landing}/{extract id}/manifest.json        the extract, its files, the downloads spent, the
                                                table definition used and where it came from
    {landing}/{extract id}/{file name}          a file as delivered (atomic: `.partial`, rename)
    {landing}/{extract id}/members/{zip name}/  the members of a ZIP, under names we choose
    {landing}/{extract id}/rejected/            copies the loader proved corrupt, kept for people

Ids and names from the API are data: anything that is not a plain name is refused before a byte
is written (`models.py`). Downloads are counted per file before each request is sent; the last
one the limit allows is never spent automatically (`allow_last_download` lets a person spend it),
and a file is downloaded again only when its landed copy is provably corrupt (`reject_file`).
"""

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2p_assets.lib.basware.archives import member_entry, unpack
from p2p_assets.lib.basware.client import BaswareClient
from p2p_assets.lib.basware.errors import BaswareError, BaswareResponseError
from p2p_assets.lib.basware.loader import ExtractInfo, SourceFile
from p2p_assets.lib.basware.models import (
    LANDING_NAMES,
    Extract,
    ExtractFile,
    TableDefinition,
    extract_id_problem,
)
from p2p_assets.lib.warehouse.sources import Source

log = logging.getLogger(__name__)

MANIFEST, MEMBERS, REJECTED = LANDING_NAMES
DEFAULT_DOWNLOAD_LIMIT = 5
"""The earlier edition's five downloads per extract: the stricter limit is the one to respect."""
_READABLE_SUFFIXES = (".json", ".ndjson", ".csv")


class BaswareDownloadBudgetError(BaswareError):
    """Another download of a file would spend the last one the limit allows (or more)."""


@dataclass
class LandedExtract:
    """An extract on disk: what Basware announced, where each file is, what was fetched now."""

    directory: Path
    extract: dict[str, Any]
    files: list[dict[str, Any]]
    definitions: dict[str, dict[str, str]]
    tables: list[str]
    source: dict[str, Any] | None = None
    downloads: dict[str, int] = field(default_factory=dict)
    allow_last: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    @property
    def info(self) -> ExtractInfo:
        parsed = Extract.from_api(self.extract)
        return ExtractInfo(
            id=parsed.id,
            type=parsed.type or "Delta",
            extract_date=parsed.extract_date or parsed.end_date or datetime(1970, 1, 1),
            start_date=parsed.start_date,
            end_date=parsed.end_date,
            name=parsed.extract_name,
            file_count=parsed.file_count,
        )

    @property
    def bytes(self) -> int:
        return sum(int(f["size"]) for f in self.files)

    def source_files(self) -> list[SourceFile]:
        """The landed files as the loader reads them: a ZIP's members each as a file of its own
        (by the member's own name inside the archive), every other file as it is."""
        sources = []
        for entry in self.files:
            if entry.get("unpack_error"):
                sources.append(
                    SourceFile(
                        table_name=entry["table_name"],
                        file_name=entry["file_name"],
                        path=self.directory / entry["file_name"],
                        error=entry["unpack_error"],
                    )
                )
                continue
            members = [member_entry(m) for m in entry["readable"]]
            for member in members:
                sources.append(
                    SourceFile(
                        table_name=member.get("table") or entry["table_name"],
                        file_name=member.get("name") or entry["file_name"],
                        path=self.directory / member["path"],
                        record_count=entry.get("record_count") if len(members) == 1 else None,
                    )
                )
        return sources


def read_landed(directory: Path) -> LandedExtract:
    """The extract landed in `directory` (raises when nothing was landed there)."""
    path = directory / MANIFEST
    try:
        payload = json.loads(path.read_text())
    except ValueError as exc:
        raise BaswareError(
            f"The Basware landing manifest {path} is unreadable ({exc}); move it aside to land "
            "the extract again (the downloads it counted are then forgotten)"
        ) from exc
    return LandedExtract(
        directory=directory,
        extract=payload["extract"],
        files=payload["files"],
        definitions=payload["definitions"],
        tables=payload["tables"],
        source=payload.get("source"),
        downloads={k: int(v) for k, v in (payload.get("downloads") or {}).items()},
        allow_last=list(payload.get("allow_last") or []),
    )


def land_extract(
    client: BaswareClient,
    extract: Extract,
    landing_dir: Path,
    *,
    source: dict[str, Any] | None = None,
    download_limit: int = DEFAULT_DOWNLOAD_LIMIT,
) -> LandedExtract:
    """Download whatever of `extract` is not yet on disk; return the complete landed extract.

    Refuses (`BaswareResponseError`, naming the extract) an id or file name that is not a plain
    name, before anything is written. `source` (where the data comes from) goes in the manifest.
    """
    problem = extract_id_problem(extract.id)
    if problem:
        raise BaswareResponseError(f"Basware extract {extract.id!r} is refused: {problem}")
    directory = landing_dir / extract.id
    listed = client.list_files(extract.id)  # refuses bad names (ExtractFile.from_api)
    names = [item.file_name for item in listed]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise BaswareResponseError(
            f"Basware extract {extract.id} lists the file {doubled[0]} more than once"
        )
    directory.mkdir(parents=True, exist_ok=True)
    previous = read_landed(directory) if (directory / MANIFEST).exists() else None
    if previous and previous.source and source and previous.source != source:
        raise BaswareError(
            f"Basware extract {extract.id} was landed in {directory} from "
            f"{Source.from_dict(previous.source).describe()}; refusing to add files from "
            f"{Source.from_dict(source).describe()} to it. Keep sandbox and live data apart: "
            "use a separate P2P_DATA_DIR."
        )
    known = {f["file_name"]: f for f in previous.files} if previous else {}
    definitions = previous.definitions if previous else {}
    if not definitions or any(i.table_name not in definitions for i in listed):
        # A table Basware added appears in its table definition first: fetch it again.
        definitions = _definitions(client.table_definition()) or definitions
    landed = LandedExtract(
        directory=directory,
        extract=dict(extract.raw) or {"id": extract.id},
        files=[],
        definitions=definitions,
        tables=sorted(definitions),
        source=(previous.source if previous else None) or source,
        downloads=dict(previous.downloads) if previous else {},
        allow_last=list(previous.allow_last) if previous else [],
    )
    for item in listed:
        entry = known.get(item.file_name)
        if entry and _intact(directory, entry):
            landed.reused.append(item.file_name)
        else:
            entry = _download(client, item, landed, download_limit)
            landed.downloaded.append(item.file_name)
        landed.files.append(entry)
        # Record progress after every file, so a crash never costs a finished download again.
        write_manifest(landed)
    write_manifest(landed)
    log.info(
        "Basware extract %s landed: %d files downloaded, %d already on disk",
        extract.id,
        len(landed.downloaded),
        len(landed.reused),
    )
    return landed


def allow_last_download(directory: Path, file_names: Iterable[str]) -> list[str]:
    """A person's permission to spend the last download of these files (one each); returns the
    names that are files of the landed extract."""
    landed = read_landed(directory)
    listed = {f["file_name"] for f in landed.files} | set(landed.downloads)
    allowed = [name for name in file_names if name in listed]
    landed.allow_last = sorted(set(landed.allow_last) | set(allowed))
    write_manifest(landed)
    return allowed


def reject_file(landed: LandedExtract, file_name: str) -> Path | None:
    """Move a file the loader proved corrupt aside, so the next run downloads it again.

    Only for corrupt copies (a checksum, archive or parse error): a value we cannot convert or a
    full disk is our problem, and spending another of the extract's downloads would not help.
    """
    entry = next((f for f in landed.files if f["file_name"] == file_name), None)
    if entry is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rejected_dir = landed.directory / REJECTED
    rejected_dir.mkdir(exist_ok=True)
    target = rejected_dir / f"{file_name}.{stamp}"
    source = landed.directory / file_name
    if source.exists():
        source.replace(target)
    shutil.rmtree(landed.directory / MEMBERS / file_name, ignore_errors=True)
    landed.files = [f for f in landed.files if f["file_name"] != file_name]
    write_manifest(landed)
    return target


def verify_checksums(landed: LandedExtract) -> str | None:
    """The first landed file whose bytes no longer match the sha256 taken when it was
    downloaded (a damaged copy on our disk), or None."""
    for entry in landed.files:
        path = landed.directory / entry["file_name"]
        if not path.exists() or _sha256(path) != entry["sha256"]:
            return entry["file_name"]
    return None


def _download(
    client: BaswareClient, item: ExtractFile, landed: LandedExtract, limit: int
) -> dict[str, Any]:
    def spend(attempt: int) -> None:
        spent = landed.downloads.get(item.file_name, 0)
        last = item.file_name in landed.allow_last
        if spent >= limit or (spent >= limit - 1 and not last):
            raise BaswareDownloadBudgetError(
                f"Basware extract {item.extract_id}, file {item.file_name}: {spent} of its "
                f"{limit} downloads are spent (counted in {landed.directory / MANIFEST}); "
                + (
                    "none is left."
                    if spent >= limit
                    else "the last one is kept for a person. Once the cause is fixed, run "
                    f"`p2p-assets basware redownload {item.extract_id} {item.file_name}`."
                )
            )
        landed.downloads[item.file_name] = spent + 1
        if last:
            landed.allow_last.remove(item.file_name)
        write_manifest(landed)  # counted before the request leaves

    result = client.download(item, landed.directory, before_attempt=spend)
    entry: dict[str, Any] = {
        "table_name": item.table_name,
        "file_name": item.file_name,
        "record_count": item.record_count,
        "size": result.size,
        "sha256": result.sha256,
        "readable": [{"path": result.path.name, "name": item.file_name}],
        "downloaded_at": datetime.now(UTC).isoformat(),
    }
    if result.path.name.lower().endswith(".zip"):
        entry.update(
            unpack(result.path, landed.directory, set(landed.definitions), item.table_name)
        )
    return entry


def _intact(directory: Path, entry: dict[str, Any]) -> bool:
    path = directory / entry["file_name"]
    return (
        path.exists()
        and path.stat().st_size == int(entry["size"])
        and not entry.get("unpack_error")
        and all((directory / member_entry(m)["path"]).exists() for m in entry["readable"])
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _definitions(tables: Iterable[TableDefinition]) -> dict[str, dict[str, str]]:
    return {t.table_name: {c.name: c.data_type or "" for c in t.columns} for t in tables}


def write_manifest(landed: LandedExtract) -> None:
    payload = {
        "extract": landed.extract,
        "files": landed.files,
        "definitions": landed.definitions,
        "tables": landed.tables,
        "source": landed.source,
        "downloads": landed.downloads,
        "allow_last": landed.allow_last,
        "written_at": datetime.now(UTC).isoformat(),
    }
    partial = landed.directory / f"{MANIFEST}.partial"
    with partial.open("w") as handle:
        handle.write(json.dumps(payload, indent=1, default=str))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, landed.directory / MANIFEST)
