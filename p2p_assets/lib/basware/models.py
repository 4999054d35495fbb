"""What the Basware Data Access API returns, as plain frozen dataclasses.

Basware may add non-mandatory fields at any time and omits fields whose value is null, so every
parser reads fields by name, ignores what it does not know, and treats a missing field as None.
The original item is kept in `raw` for lineage (manifests) and for fields added later.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2p_assets.lib.basware.errors import BaswareResponseError
from p2p_assets.lib.files import PLAIN, name_problem

# Basware writes dates day first: `28/03/2024, 10:17:02`; the other forms are seen in the wild.
_DAY_FIRST_FORMATS = (
    "%d/%m/%Y, %H:%M:%S",
    "%d/%m/%Y, %H:%M:%S.%f",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)
_NUMBERED_FILE = re.compile(r"^(?P<table>.+?)_\d+(?:\.[A-Za-z0-9]+)+$")
EXTRACT_ID = re.compile(r"[A-Za-z0-9_-]+")
"""Basware's extract ids are 32 hex characters; anything else plain (no dots) is accepted too."""
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
"""A table name becomes a warehouse table and an asset key: a plain identifier."""
LANDING_NAMES = ("manifest.json", "members", "rejected")
"""Our bookkeeping in an extract's landing directory; a file Basware names so is refused."""


def extract_id_problem(value: object) -> str | None:
    problem = name_problem(value, pattern=EXTRACT_ID)
    return f"its id {problem} (Basware's extract ids are 32 hex characters)" if problem else None


def file_name_problem(value: object) -> str | None:
    return name_problem(value, pattern=PLAIN, reserved=LANDING_NAMES)


def table_name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not TABLE_NAME.fullmatch(value):
        return f"table name {value!r} is not a plain identifier ({TABLE_NAME.pattern})"
    return None


def parse_basware_datetime(value: Any, field_name: str = "date") -> datetime | None:
    """A Basware date string as a naive datetime (None when absent or empty).

    Day-first forms are tried first, then ISO 8601 as a fallback. Basware gives no time zone; an
    ISO value that carries one is converted to UTC and made naive, so that all values compare.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive(value)
    if not isinstance(value, str):
        raise BaswareResponseError(f"Basware {field_name} {value!r} is not a date string")
    text = value.strip()
    if not text:
        return None
    for fmt in _DAY_FIRST_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return _naive(datetime.fromisoformat(text))
    except ValueError:
        raise BaswareResponseError(
            f"Basware {field_name} {text!r} is neither day-first (dd/mm/yyyy, HH:MM:SS) "
            "nor ISO 8601"
        ) from None


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BaswareResponseError(f"Basware field {key} is {value!r}, not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BaswareResponseError(
            f"Basware field {key} is {value!r}, not a whole number"
        ) from None


def _required(item: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(item, key)
    if not value:
        raise BaswareResponseError(f"Basware {what} without {key}: {dict(item)!r}")
    return value


def _mapping(item: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise BaswareResponseError(f"Basware {what} is not a JSON object: {item!r}")
    return item


@dataclass(frozen=True)
class Extract:
    """One extract: an Initial load, a daily Delta (or a DateRange re-extract) of the data sets."""

    id: str
    type: str | None
    start_date: datetime | None
    end_date: datetime | None
    file_count: int | None
    processing_status: str | None
    extract_date: datetime | None
    extract_name: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_api(cls, item: Any) -> "Extract":
        data = _mapping(item, "extract")
        extract_id = _required(data, "id", "extract")
        problem = extract_id_problem(extract_id)
        if problem:
            raise BaswareResponseError(f"Basware extract {extract_id!r} is refused: {problem}")
        return cls(
            id=extract_id,
            type=_text(data, "type"),
            start_date=parse_basware_datetime(data.get("startDate"), "startDate"),
            end_date=parse_basware_datetime(data.get("endDate"), "endDate"),
            file_count=_int(data, "fileCount"),
            processing_status=_text(data, "processingStatus"),
            extract_date=parse_basware_datetime(data.get("extractDate"), "extractDate"),
            extract_name=_text(data, "extractName"),
            raw=dict(data),
        )

    @property
    def is_initial(self) -> bool:
        return (self.type or "").lower() == "initial"


@dataclass(frozen=True)
class ExtractFile:
    """One file of an extract: part of one table (a table over 100k records spans several files)."""

    extract_id: str
    table_name: str
    file_name: str
    start_date: datetime | None
    end_date: datetime | None
    download_url: str
    record_count: int | None
    """Announced number of records; only the sandbox sends `recordCount`, the real API does not."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_api(cls, item: Any, extract_id: str | None = None) -> "ExtractFile":
        """Parse a file list item; `extract_id` fills in an omitted `extractId`."""
        data = _mapping(item, "extract file")
        file_name = _required(data, "fileName", "extract file")
        table_name = _text(data, "tableName") or table_from_file_name(file_name)
        found_extract_id = _text(data, "extractId") or extract_id
        if not found_extract_id:
            raise BaswareResponseError(f"Basware extract file without extractId: {dict(data)!r}")
        for problem in (file_name_problem(file_name), table_name_problem(table_name)):
            if problem:
                raise BaswareResponseError(
                    f"Basware extract {found_extract_id}: file {file_name!r} is refused: {problem}"
                )
        return cls(
            extract_id=found_extract_id,
            table_name=table_name,
            file_name=file_name,
            start_date=parse_basware_datetime(data.get("startDate"), "startDate"),
            end_date=parse_basware_datetime(data.get("endDate"), "endDate"),
            download_url=_required(data, "downloadUrl", "extract file"),
            record_count=_int(data, "recordCount"),
            raw=dict(data),
        )


def table_from_file_name(file_name: str) -> str:
    """`IA_INVOICE_0001.json.gz` -> `IA_INVOICE` (for file items that omit `tableName`)."""
    match = _NUMBERED_FILE.match(file_name)
    return match.group("table") if match else file_name.split(".", 1)[0]


@dataclass(frozen=True)
class ColumnDefinition:
    name: str
    data_type: str | None
    definition: str | None
    example: str | None


@dataclass(frozen=True)
class TableDefinition:
    """The specification of one table in the extract files (`.../specification/tableDefinition`)."""

    table_name: str
    columns: list[ColumnDefinition]

    @classmethod
    def from_api(cls, item: Any) -> "TableDefinition":
        # Keys contain spaces ("Table name", "Column name"); match them ignoring case, spaces and
        # underscores so that `tableName` or `TABLE_NAME` would be read the same.
        data = _normalised(_mapping(item, "table definition"))
        name = _text(data, "tablename")
        if not name:
            raise BaswareResponseError(f"Basware table definition without a table name: {item!r}")
        raw_columns = data.get("columns") or []
        if not isinstance(raw_columns, list):
            raise BaswareResponseError(f"Basware table definition {name}: Columns is not a list")
        columns: list[ColumnDefinition] = []
        for raw_column in raw_columns:
            column = _normalised(_mapping(raw_column, f"column definition of {name}"))
            column_name = _text(column, "columnname")
            if not column_name:
                raise BaswareResponseError(f"Basware table definition {name}: column without name")
            columns.append(
                ColumnDefinition(
                    name=column_name,
                    data_type=_text(column, "datatype"),
                    definition=_text(column, "fielddefinition"),
                    example=_text(column, "examplevalue"),
                )
            )
        return cls(table_name=name, columns=columns)


def _normalised(item: Mapping[str, Any]) -> dict[str, Any]:
    return {re.sub(r"[\s_]", "", str(key)).lower(): value for key, value in item.items()}


@dataclass(frozen=True)
class LandedFile:
    """A file downloaded completely and renamed into place."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class ExtractListing:
    """What the extract list held: the usable extracts in extract order, and one message per item
    that was refused (a bad id, an unreadable date), so one bad item never hides the others."""

    extracts: list[Extract]
    refused: list[str] = field(default_factory=list)


def extract_order_key(extract: Extract) -> tuple[datetime, datetime, int, str]:
    """Sort key giving the order in which extracts must be applied.

    By extract date, then start of the covered range, Initial before any other type on a tie, and
    the id last so the order is total. Missing dates sort first.
    """
    return (
        extract.extract_date or datetime.min,
        extract.start_date or datetime.min,
        0 if extract.is_initial else 1,
        extract.id,
    )


def in_extract_order(extracts: Iterable[Extract]) -> list[Extract]:
    return sorted(extracts, key=extract_order_key)


def as_list(data: Any, what: str) -> list[Any]:
    """The documented JSON array; an object wrapping exactly one array is accepted as well."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    raise BaswareResponseError(f"Basware {what} is not a JSON array: {str(data)[:200]!r}")
