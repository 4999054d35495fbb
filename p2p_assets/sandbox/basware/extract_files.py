"""The file cache of a Basware sandbox: each extract's files, generated and written on first use
under `state_dir/files/<config fingerprint>/<extract>-<files key>/`.

The files key names every fault that changes the bytes of an extract's files (schema drift, added
tables, the zip layout and its duplicate base names): a change of them writes new files and
clearing them falls back to the old ones, so stale files are never served. Faults that only
change what the API says about files (announced names, record counts) are not part of it.
"""

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import polars as pl

from p2p_assets.sandbox.basware import files, schema
from p2p_assets.sandbox.basware.added import added_table
from p2p_assets.sandbox.basware.config import BaswareFaults, BaswareSandboxConfig
from p2p_assets.sandbox.basware.data import apply_drift, generate_extract
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.tables import ALL_TABLES

log = logging.getLogger(__name__)


def with_added_tables(
    plan: Plan, frames: dict[str, pl.DataFrame], faults: BaswareFaults, index: int
) -> dict[str, pl.DataFrame]:
    """The extract's generated frames plus those of the tables Basware added by then."""
    out = dict(frames)
    for table in faults.added_tables(index):
        frame = added_table(plan, table, index, frames["IA_INVOICE"])
        if frame.height:
            out[table] = frame
    return out


class ExtractFiles:
    """Writes and finds the files of one tenant's extracts (shared by threads of a process, and
    by processes: files are written to a temp dir and renamed into place)."""

    def __init__(self, config: BaswareSandboxConfig, plan: Plan, state_dir: Path):
        self.config = config
        self.plan = plan
        self.root = state_dir / "files" / config.fingerprint()
        self._lock = threading.Lock()
        self._manifests: dict[tuple[int, str], list[dict]] = {}

    def layout(self, faults: BaswareFaults) -> files.Layout:
        return files.Layout(
            file_format=self.config.file_format,
            compression=self.config.compression,
            max_records=self.config.max_records_per_file,
            zip_layout=faults.zip_layout,
            duplicate_basenames=faults.duplicate_basenames,
        )

    def key(self, faults: BaswareFaults, index: int) -> str:
        tables = ALL_TABLES + faults.added_tables(index)
        shaping: dict[str, object] = {}
        drift = {t: faults.drift_for(t, index) for t in tables if any(faults.drift_for(t, index))}
        if drift:
            shaping["drift"] = drift
        if faults.added_tables(index):
            shaping["added"] = faults.added_tables(index)
        layout = self.layout(faults)
        if layout.by_data_set:
            shaping["layout"] = ["dataset", layout.duplicate_basenames]
        if not shaping:
            return "base"
        text = json.dumps(shaping, sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()

    def directory(self, index: int, key: str) -> Path:
        return self.root / f"{index:04d}-{key}"

    def manifest(self, index: int, faults: BaswareFaults) -> list[dict]:
        """[{tableName, fileName, recordCount, members}] of the extract, writing it if needed."""
        key = self.key(faults, index)
        cached = self._manifests.get((index, key))
        if cached is not None:
            return cached
        with self._lock:
            directory = self.directory(index, key)
            if (directory / files.MANIFEST).exists():
                manifest = files.read_manifest(directory)
            else:
                started = time.perf_counter()
                frames = with_added_tables(
                    self.plan, generate_extract(self.plan, index), faults, index
                )
                tables = {
                    table: (
                        apply_drift(self.plan, table, frame, faults, index),
                        schema.table_columns(table, faults, index),
                    )
                    for table, frame in frames.items()
                }
                manifest = files.write_extract(
                    directory,
                    tables,
                    extract=index,
                    layout=self.layout(faults),
                    when=self.plan.extract_time(index),
                )
                log.info("wrote extract %s files in %.2fs", index, time.perf_counter() - started)
            self._manifests[(index, key)] = manifest
            return manifest

    def path(self, index: int, file_name: str, faults: BaswareFaults) -> Path | None:
        """Where the extract's file `file_name` (a real name) is, None when it has no such file."""
        names = {entry["fileName"] for entry in self.manifest(index, faults)}
        if file_name not in names:
            return None
        return self.directory(index, self.key(faults, index)) / file_name
