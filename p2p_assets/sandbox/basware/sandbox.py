"""`BaswareSandbox`: one simulated Basware tenant over a state dir, and its Python API.

Extract 0 is the Initial; Deltas 1..N become visible as `initial_deltas`, manual publications and
(optionally) wall time allow. Files of an extract are generated and written on first use
(`extract_files.py`). With `storage_host` in the config, every way of serving the sandbox also
serves its storage host (`storage.py`), where getFile redirects.
"""

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from p2p_assets.sandbox import http
from p2p_assets.sandbox.basware import schema, specification
from p2p_assets.sandbox.basware.app import BaswareApp
from p2p_assets.sandbox.basware.config import BaswareFaults, BaswareSandboxConfig
from p2p_assets.sandbox.basware.data import apply_drift, generate_extract
from p2p_assets.sandbox.basware.extract_files import ExtractFiles, with_added_tables
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.state import SandboxState
from p2p_assets.sandbox.basware.storage import StorageApp
from p2p_assets.sandbox.basware.tables import ALL_TABLES

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
        self.cache = ExtractFiles(self.config, self.plan, self.state_dir)
        # The base URL of the storage server the latest serve*() started (None: none running).
        self.storage_url: str | None = None
        self._lock = threading.Lock()
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
    def files(self, index: int, faults: BaswareFaults | None = None) -> list[dict]:
        """The extract's files [{tableName, fileName, recordCount, members}] under real names,
        writing them if needed."""
        return self.cache.manifest(index, faults if faults is not None else self.faults())

    def file_path(self, index: int, file_name: str, faults: BaswareFaults) -> Path | None:
        return self.cache.path(index, file_name, faults)

    @staticmethod
    def real_file_name(asked: str, faults: BaswareFaults) -> str:
        """The real name behind a name the file list announced (the `file_names` fault)."""
        real = {announced: name for name, announced in faults.file_names.items()}
        return real.get(asked, asked)

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
        `ID` in extract order, typed (str, Decimal, datetime, int, None; DATE columns datetime
        with their time of day, or date when `dates_with_time` is off), under the current drift
        (a dropped column is None in records last delivered after the drift). Tables added by
        `add_tables` have a truth too; the zip layout never changes it."""
        faults = self.faults()
        if table not in ALL_TABLES and table not in faults.add_tables:
            raise KeyError(f"unknown Basware table {table!r}")
        frames, kinds = [], {}
        for index in range(self.published_deltas() + 1):
            generated = self._generated(index)
            if table in faults.add_tables:
                generated = with_added_tables(self.plan, generated, faults, index)
            frame = generated.get(table)
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
        return specification.table_definition(
            self.config.tier, self.faults(), self.config.dates_with_time
        )

    def change_log(self) -> list[dict]:
        return specification.change_log(self.config.tier, self.faults())

    # -- serving --------------------------------------------------------------------------------
    def app(self, storage_url: str | None = None) -> http.App:
        """The API; getFile redirects to `storage_url` when given, else to this host."""
        return BaswareApp(self, storage_url)

    def storage_app(self) -> http.App:
        return StorageApp(self)

    def _serve_storage(self, stack: contextlib.ExitStack) -> str | None:
        """Start the storage host in a background thread until `stack` closes, if configured;
        its base URL."""
        host, port = self.config.storage_host, self.config.storage_port
        if not host:
            return None
        self.storage_url = stack.enter_context(http.serve(self.storage_app(), host, port))
        stack.callback(setattr, self, "storage_url", None)
        return self.storage_url

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the API on 127.0.0.1 (and the storage host, if configured) in background
        threads; yields the API's base URL."""
        with contextlib.ExitStack() as stack:
            storage_url = self._serve_storage(stack)
            yield stack.enter_context(http.serve(self.app(storage_url)))

    def serve_in_background(self) -> str:
        """Serve until the process exits (the storage host too, if configured); the API's URL."""
        host, port = self.config.storage_host, self.config.storage_port
        if host:
            self.storage_url = http.serve_in_background(self.storage_app(), host, port)
        return http.serve_in_background(self.app(self.storage_url))

    def serve_forever(
        self, host: str = "127.0.0.1", port: int = 8000, ready: http.Ready | None = None
    ) -> None:
        """Serve in the foreground until SIGINT or SIGTERM; the storage host (if configured) is
        bound first, so `storage_url` is set when `ready(url)` is called."""
        with contextlib.ExitStack() as stack:
            http.serve_forever(self.app(self._serve_storage(stack)), host, port, ready)


def serve_forever(
    config: BaswareSandboxConfig,
    state_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    ready: http.Ready | None = None,
) -> None:
    """Serve a Basware sandbox in the foreground (the CLI's `sandbox serve basware`)."""
    BaswareSandbox(config, state_dir).serve_forever(host, port, ready)
