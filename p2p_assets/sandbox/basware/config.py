"""What a Basware sandbox tenant looks like (`BaswareSandboxConfig`) and which faults it is
currently injecting (`BaswareFaults`).

The config is fixed for the life of a state dir's files (the file cache is keyed by its data
fingerprint); the faults live in the state dir so every process serving it sees them.
"""

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from p2p_assets.sandbox.basware.tables import ALL_TABLES

Tier = Literal["pro", "essentials"]
FileFormat = Literal["json", "csv"]
Compression = Literal["gz", "zip", "none"]
ZipLayout = Literal["table", "dataset"]
CORRUPTIONS = ("truncated", "garbage", "wrong_count")
ZIP_LAYOUTS = ("table", "dataset")
_TABLE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class BaswareSandboxConfig:
    """One simulated Basware tenant.

    `invoices` sizes the Initial extract (children, suppliers, orders and users scale with it);
    `invoice_rows` fixes the Initial's IA_INVOICE_ROW count exactly (default 4 per invoice), which
    is how a benchmark asks for "an extract of N invoice rows". Each Delta carries
    `delta_invoices` new invoices (default 5% of `invoices`) plus re-deliveries of existing
    records. The default `download_limit` is the earlier edition's five, the stricter one.
    """

    seed: int = 7
    invoices: int = 300
    invoice_rows: int | None = None
    delta_invoices: int | None = None
    initial_deltas: int = 3
    max_deltas: int = 60
    delta_interval_seconds: float | None = None
    tier: Tier = "pro"
    file_format: FileFormat = "json"
    compression: Compression = "gz"
    download_limit: int = 5
    max_records_per_file: int = 100_000
    token_lifetime_seconds: int = 3600
    start_date: date = date(2024, 3, 28)
    extract_name: str = "SandboxDataAccess"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    username: str = "sandbox-user"
    password: str = "sandbox-password"
    record_counts: bool = False
    dates_with_time: bool = True
    storage_host: str | None = None
    storage_port: int = 0

    def __post_init__(self) -> None:
        if self.invoices < 2:
            raise ValueError("invoices must be at least 2")
        if self.tier not in ("pro", "essentials"):
            raise ValueError(f"unknown tier {self.tier!r}")
        if self.file_format not in ("json", "csv"):
            raise ValueError(f"unknown file_format {self.file_format!r}")
        if self.compression not in ("gz", "zip", "none"):
            raise ValueError(f"unknown compression {self.compression!r}")
        if not 0 <= self.initial_deltas <= self.max_deltas:
            raise ValueError("initial_deltas must be between 0 and max_deltas")
        if self.invoice_rows is not None and self.invoice_rows < self.invoices:
            raise ValueError("invoice_rows must be at least invoices (one row per invoice)")

    @property
    def new_invoices_per_delta(self) -> int:
        return (
            self.delta_invoices if self.delta_invoices is not None else max(2, self.invoices // 20)
        )

    def fingerprint(self) -> str:
        """Hash of everything that shapes the delivered data and files (not credentials or
        publication pacing), so caches and extract ids follow the data."""
        shaping = {
            name: getattr(self, name)
            for name in (
                "seed",
                "invoices",
                "invoice_rows",
                "delta_invoices",
                "tier",
                "file_format",
                "compression",
                "max_records_per_file",
                "start_date",
                "extract_name",
                "dates_with_time",
            )
        }
        text = json.dumps(shaping, sort_keys=True, default=str)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class FailRule:
    """Answer the next `count` matching requests with `status` (and `Retry-After` when given)
    before normal handling. `path_prefix` None matches every `/v1` request."""

    status: int
    count: int = 1
    retry_after: float | None = None
    path_prefix: str | None = None

    def matches(self, path: str) -> bool:
        if self.path_prefix is None:
            return path.startswith("/v1/")
        return path.startswith(self.path_prefix)


@dataclass(frozen=True)
class BaswareFaults:
    """Faults to inject, persisted in the state dir.

    - `token_lifetime_seconds`: overrides the lifetime of tokens issued from now on.
    - `fail_next`: rules consumed in order, one request at a time.
    - `drop_next_downloads`: cut the connection half way through the next n file bodies.
    - `corrupt_files`: file name -> "truncated" | "garbage" | "wrong_count", until cleared.
    - `add_columns` / `drop_columns`: schema drift for files of extracts with index >=
      `drift_from_extract` (index 0 is the Initial); also shown in the table definition.

    Hostile input, for clients that must not trust what the API announces:
    - `extra_extracts`: raw items appended to the extract list as they are (their file list and
      acknowledgement answer 404); a `processingStatus` filter applies to their own field.
    - `file_names`: real file name -> the name the file list announces instead ("../x.json.gz",
      "*.json.gz", "manifest.json", ...); getFile still answers with the real file's bytes.
    - `add_tables`: table name -> index of the first extract that delivers it (a table Basware
      adds): in the table definition and change log at once, in files from that extract on.
    - `zip_layout`: "table" (one member per zip, named like the file) or "dataset" (with
      compression "zip": one zip per data set of the manual, members under `data/`).
    - `duplicate_basenames`: with the "dataset" layout, IA_INVOICE's records are split over
      `part1/IA_INVOICE_0001.json` and `part2/IA_INVOICE_0001.json`, half each.
    """

    token_lifetime_seconds: int | None = None
    fail_next: tuple[FailRule, ...] = ()
    drop_next_downloads: int = 0
    corrupt_files: dict[str, str] = field(default_factory=dict)
    add_columns: dict[str, list[str]] = field(default_factory=dict)
    drop_columns: dict[str, list[str]] = field(default_factory=dict)
    drift_from_extract: int = 0
    extra_extracts: list[dict[str, Any]] = field(default_factory=list)
    file_names: dict[str, str] = field(default_factory=dict)
    add_tables: dict[str, int] = field(default_factory=dict)
    zip_layout: ZipLayout = "table"
    duplicate_basenames: bool = False

    def __post_init__(self) -> None:
        rules = tuple(r if isinstance(r, FailRule) else FailRule(**r) for r in self.fail_next)
        object.__setattr__(self, "fail_next", rules)
        for rule in rules:
            if not 400 <= rule.status <= 599:
                raise ValueError(f"fail_next status must be 4xx or 5xx, not {rule.status}")
        for name, kind in self.corrupt_files.items():
            if kind not in CORRUPTIONS:
                raise ValueError(f"corrupt_files[{name!r}] must be one of {CORRUPTIONS}")
        for table, columns in self.drop_columns.items():
            if "ID" in columns:
                raise ValueError(f"cannot drop the key column ID of {table}")
        if not all(isinstance(item, dict) for item in self.extra_extracts):
            raise ValueError("extra_extracts must be a list of JSON objects")
        if not all(isinstance(v, str) and v for v in self.file_names.values()):
            raise ValueError("file_names must map file names to non-empty names")
        for table, first in self.add_tables.items():
            if not _TABLE_NAME.fullmatch(table) or table in ALL_TABLES:
                raise ValueError(f"add_tables name {table!r} is not a new Basware table name")
            if not isinstance(first, int) or first < 0:
                raise ValueError(f"add_tables[{table!r}] must be an extract index >= 0")
        if self.zip_layout not in ZIP_LAYOUTS:
            raise ValueError(f"zip_layout must be one of {ZIP_LAYOUTS}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BaswareFaults":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def added_tables(self, extract_index: int) -> tuple[str, ...]:
        """The added tables files of extract `extract_index` carry, in name order."""
        return tuple(sorted(t for t, first in self.add_tables.items() if first <= extract_index))

    def drift_for(self, table: str, extract_index: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(added, dropped) columns of `table` in files of extract `extract_index`."""
        if extract_index < self.drift_from_extract:
            return (), ()
        return tuple(self.add_columns.get(table, ())), tuple(self.drop_columns.get(table, ()))
