"""`BaswareSandbox`: one simulated Basware tenant over a state dir, and its Python API.

Extract 0 is the Initial; Deltas 1..N become visible as `initial_deltas`, manual publications and
(optionally) wall time allow. Files of an extract are generated and written on first use, under
`state_dir/files/<config fingerprint>/<extract>-<drift key>/`, so a change of schema drift writes
new files and clearing it falls back to the old ones.
"""

import hashlib
import json
import logging
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from p2p_assets.lib.basware.tables import ALL_TABLES
from p2p_assets.sandbox import http
from p2p_assets.sandbox.basware import files, schema
from p2p_assets.sandbox.basware.app import BaswareApp
from p2p_assets.sandbox.basware.config import BaswareFaults, BaswareSandboxConfig
from p2p_assets.sandbox.basware.data import apply_drift, generate_extract
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.state import SandboxState

log = logging.getLogger(__name__)

DATE_FORMAT = "%d/%m/%Y, %H:%M:%S"


class BaswareSandbox(http.ServedSandbox):
    """A simulated Basware Data Access tenant whose state lives in `state_dir`.

    Several instances (in one or several processes) may share a state dir: acknowledgements,
    download counts, publications and faults are read from it on every request.
    """

    def __init__(self, config: BaswareSandboxConfig, state_dir: Path | str):
        self.config = config
        self.state_dir = Path(state_dir)
        self.plan = Plan(self.config)
        self.state = SandboxState(self.state_dir)
        self._lock = threading.Lock()
        self._manifests: dict[tuple[int, str], list[dict]] = {}
        self._frames: dict[int, dict[str, pl.DataFrame]] = {}
        # Small tenants keep every extract's frames; benchmark-sized ones only the latest.
        self._frame_cache_size = 64 if self.config.invoices <= 50_000 else 1

    # -- publication ----------------------------------------------------------------------------
    def published_deltas(self) -> int:
        count = self.config.initial_deltas + self.state.manual_deltas()
        interval = self.config.delta_interval_seconds
        if interval:
            count += int((time.time() - self.state.created_at()) // interval)
        return min(count, self.config.max_deltas)

    def publish_delta(self) -> dict[str, Any] | None:
        """Make the next daily Delta visible; its listing item, or None once `max_deltas` are."""
        if self.published_deltas() >= self.config.max_deltas:
            return None
        self.state.add_manual_delta()
        return self.extract_item(self.published_deltas())

    def extract_id(self, index: int) -> str:
        text = f"basware-sandbox:{self.config.fingerprint()}:{index}"
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def extract_index(self, extract_id: str) -> int | None:
        """Index of a published extract, None for unknown or not yet published ids."""
        for index in range(self.published_deltas() + 1):
            if self.extract_id(index) == extract_id:
                return index
        return None

    # -- faults ---------------------------------------------------------------------------------
    def faults(self) -> BaswareFaults:
        return self.state.faults()

    def set_faults(self, faults: BaswareFaults | None = None, **fields: Any) -> None:
        """Replace the current faults: with `faults`, or with `BaswareFaults(**fields)`."""
        self.state.set_faults(faults if faults is not None else BaswareFaults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(BaswareFaults())

    def download_counts(self) -> dict[tuple[str, str], int]:
        return self.state.download_counts()

    # -- extracts and files ---------------------------------------------------------------------
    def _drift_key(self, faults: BaswareFaults, index: int) -> str:
        drift = {
            t: faults.drift_for(t, index) for t in ALL_TABLES if any(faults.drift_for(t, index))
        }
        if not drift:
            return "base"
        return hashlib.blake2b(
            json.dumps(drift, sort_keys=True).encode(), digest_size=6
        ).hexdigest()

    def _directory(self, index: int, key: str) -> Path:
        return self.state_dir / "files" / self.config.fingerprint() / f"{index:04d}-{key}"

    def files(self, index: int, faults: BaswareFaults | None = None) -> list[dict]:
        """The extract's file list [{tableName, fileName, recordCount}], writing files if needed."""
        faults = faults if faults is not None else self.faults()
        key = self._drift_key(faults, index)
        cached = self._manifests.get((index, key))
        if cached is not None:
            return cached
        with self._lock:
            directory = self._directory(index, key)
            if (directory / files.MANIFEST).exists():
                manifest = files.read_manifest(directory)
            else:
                started = time.perf_counter()
                tables = {
                    table: (
                        apply_drift(self.plan, table, frame, faults, index),
                        schema.table_columns(table, faults, index),
                    )
                    for table, frame in generate_extract(self.plan, index).items()
                }
                manifest = files.write_extract(
                    directory,
                    tables,
                    extract=index,
                    file_format=self.config.file_format,
                    compression=self.config.compression,
                    max_records=self.config.max_records_per_file,
                    when=self.plan.extract_time(index),
                )
                log.info("wrote extract %s files in %.2fs", index, time.perf_counter() - started)
            self._manifests[(index, key)] = manifest
            return manifest

    def file_path(self, index: int, file_name: str, faults: BaswareFaults) -> Path | None:
        names = {entry["fileName"] for entry in self.files(index, faults)}
        if file_name not in names:
            return None
        return self._directory(index, self._drift_key(faults, index)) / file_name

    def extract_item(self, index: int, acknowledged: set[str] | None = None) -> dict[str, Any]:
        """The extract as GET /v1/dataExtracts lists it."""
        acknowledged = self.state.acknowledged() if acknowledged is None else acknowledged
        extract_id = self.extract_id(index)
        end = self.plan.extract_time(index)
        start = end - timedelta(days=365) if index == 0 else self.plan.extract_time(index - 1)
        return {
            "id": extract_id,
            "type": "Initial" if index == 0 else "Delta",
            "startDate": start.strftime(DATE_FORMAT),
            "endDate": end.strftime(DATE_FORMAT),
            "fileCount": len(self.files(index)),
            "processingStatus": "Exported" if extract_id in acknowledged else "WaitingForExport",
            "extractDate": (end + timedelta(minutes=5)).strftime(DATE_FORMAT),
            "extractName": self.config.extract_name,
        }

    def extracts(self) -> list[dict[str, Any]]:
        """The published extracts, oldest first, as the API lists them."""
        acknowledged = self.state.acknowledged()
        return [self.extract_item(i, acknowledged) for i in range(self.published_deltas() + 1)]

    # -- ground truth ---------------------------------------------------------------------------
    def truth(self, table: str) -> list[dict[str, Any]]:
        """The current state of `table` through the published extracts: the latest version of each
        `ID` in extract order, typed (str, Decimal, date, datetime, int, None), under the current
        drift (a dropped column is None in records last delivered after the drift)."""
        if table not in ALL_TABLES:
            raise KeyError(f"unknown Basware table {table!r}")
        faults = self.faults()
        frames, kinds = [], {}
        for index in range(self.published_deltas() + 1):
            frame = self._generated(index).get(table)
            if frame is None:
                continue
            frames.append(apply_drift(self.plan, table, frame, faults, index))
            kinds.update({c.name: c for c in schema.table_columns(table, faults, index)})
        if not frames:
            return []
        current = pl.concat(frames, how="diagonal_relaxed").unique(
            subset="ID", keep="last", maintain_order=True
        )
        decimals = {name: c.scale for name, c in kinds.items() if c.kind == "decimal"}
        records = current.sort("ID").to_dicts()
        for record in records:
            for name, scale in decimals.items():
                if record.get(name) is not None:
                    record[name] = Decimal(record[name]).scaleb(-scale)
        return records

    def _generated(self, index: int) -> dict[str, pl.DataFrame]:
        """Frames of one extract, remembered for the few most recent extracts (truth() walks
        every published extract once per table)."""
        with self._lock:
            frames = self._frames.pop(index, None)
            if frames is None:
                frames = generate_extract(self.plan, index)
            self._frames[index] = frames
            while len(self._frames) > self._frame_cache_size:
                self._frames.pop(next(iter(self._frames)))
            return frames

    # -- specification --------------------------------------------------------------------------
    def table_definition(self) -> list[dict]:
        return schema.table_definition(self.config.tier, self.faults())

    def change_log(self) -> list[dict]:
        return schema.change_log(self.config.tier, self.faults())

    # -- serving --------------------------------------------------------------------------------
    def app(self) -> http.App:
        return BaswareApp(self)


def serve_forever(
    config: BaswareSandboxConfig, state_dir: Path, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Serve a Basware sandbox in the foreground (the CLI's `sandbox serve basware`)."""
    BaswareSandbox(config, state_dir).serve_forever(host, port)
