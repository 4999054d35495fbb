"""Landing a Basware extract on local disk, once.

Every extract may only be downloaded a few times (five in the earlier edition of the manual, fifty
now), so each file is downloaded once into `{landing}/{extract_id}/` and recorded with its sha256 in
`manifest.json`. Re-materialising or backfilling reads the landed files and never spends the
vendor's download limit again. A file the loader rejects is moved aside (kept for inspection) so
that the next run fetches it anew once Basware has fixed it.
"""

import json
import logging
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2p_assets.lib.basware.client import BaswareClient
from p2p_assets.lib.basware.loader import ExtractInfo, SourceFile
from p2p_assets.lib.basware.models import Extract, ExtractFile, TableDefinition

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass
class LandedExtract:
    """An extract on disk: what Basware announced, where each file is, what was fetched now."""

    directory: Path
    extract: dict[str, Any]
    files: list[dict[str, Any]]
    definitions: dict[str, dict[str, str]]
    tables: list[str]
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
        """The landed files as the loader reads them (zip members unpacked)."""
        sources = []
        for entry in self.files:
            members = entry["readable"]
            for member in members:
                sources.append(
                    SourceFile(
                        table_name=entry["table_name"],
                        file_name=entry["file_name"],
                        path=self.directory / member,
                        record_count=entry["record_count"] if len(members) == 1 else None,
                    )
                )
        return sources


def land_extract(client: BaswareClient, extract: Extract, landing_dir: Path) -> LandedExtract:
    """Download whatever of `extract` is not yet on disk; return the complete landed extract."""
    directory = landing_dir / extract.id
    directory.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(directory)
    known = {f["file_name"]: f for f in previous.get("files", [])} if previous else {}
    listed = client.list_files(extract.id)
    landed = LandedExtract(
        directory=directory,
        extract=dict(extract.raw) or {"id": extract.id},
        files=[],
        definitions=previous.get("definitions") or _definitions(client.table_definition()),
        tables=[],
    )
    landed.tables = sorted(landed.definitions)
    for item in listed:
        entry = known.get(item.file_name)
        if entry and _intact(directory, entry):
            landed.reused.append(item.file_name)
        else:
            entry = _download(client, item, directory)
            landed.downloaded.append(item.file_name)
        landed.files.append(entry)
        # Record progress after every file, so a crash never costs a finished download again.
        _write_manifest(landed)
    _write_manifest(landed)
    log.info(
        "Basware extract %s landed: %d files downloaded, %d already on disk",
        extract.id,
        len(landed.downloaded),
        len(landed.reused),
    )
    return landed


def reject_file(landed: LandedExtract, file_name: str) -> Path | None:
    """Move a file the loader could not read aside, so the next run downloads it again."""
    entry = next((f for f in landed.files if f["file_name"] == file_name), None)
    if entry is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rejected_dir = landed.directory / "rejected"
    rejected_dir.mkdir(exist_ok=True)
    target = rejected_dir / f"{file_name}.{stamp}"
    source = landed.directory / file_name
    if source.exists():
        source.replace(target)
    landed.files = [f for f in landed.files if f["file_name"] != file_name]
    _write_manifest(landed)
    return target


def _download(client: BaswareClient, item: ExtractFile, directory: Path) -> dict[str, Any]:
    result = client.download(item, directory)
    readable = [result.path.name]
    if result.path.name.lower().endswith(".zip"):
        unpacked = _unzip(result.path, directory / f"{result.path.name}.d")
        readable = [str(Path(p).relative_to(directory)) for p in unpacked]
    return {
        "table_name": item.table_name,
        "file_name": item.file_name,
        "record_count": item.record_count,
        "size": result.size,
        "sha256": result.sha256,
        "readable": readable,
        "downloaded_at": datetime.now(UTC).isoformat(),
    }


def _unzip(archive: Path, target: Path) -> list[str]:
    """Unpack a zip into its own folder; a broken archive is the loader's error to report."""
    target.mkdir(parents=True, exist_ok=True)
    members = []
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if info.is_dir():
                    continue
                name = Path(info.filename).name  # never trust paths inside an archive
                with zipped.open(info) as source, (target / name).open("wb") as sink:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)
                members.append(str(target / name))
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        # Leave a marker the loader cannot parse, so the failure names this file and reason.
        broken = target / f"{archive.name.removesuffix('.zip')}"
        broken.write_text(f"corrupt zip archive: {exc}")
        return [str(broken)]
    return members


def _intact(directory: Path, entry: dict[str, Any]) -> bool:
    path = directory / entry["file_name"]
    return (
        path.exists()
        and path.stat().st_size == int(entry["size"])
        and all((directory / member).exists() for member in entry["readable"])
    )


def _definitions(tables: Iterable[TableDefinition]) -> dict[str, dict[str, str]]:
    return {t.table_name: {c.name: c.data_type or "" for c in t.columns} for t in tables}


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("ignoring unreadable manifest %s", path)
        return {}


def _write_manifest(landed: LandedExtract) -> None:
    payload = {
        "extract": landed.extract,
        "files": landed.files,
        "definitions": landed.definitions,
        "tables": landed.tables,
        "written_at": datetime.now(UTC).isoformat(),
    }
    partial = landed.directory / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(partial, landed.directory / MANIFEST)
