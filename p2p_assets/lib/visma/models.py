"""What the Visma Youforce File API returns, as plain frozen dataclasses.

List items differ by role: subscriber items carry `downloaded` and an `uploadDate` ending in `Z`,
publisher items have no `downloaded` and a `uploadDate` without a zone; newer answers add
`deleted` and `deletedDate`. The upload answer (`id`, `name`, `size`, `creationDate`) describes the
same thing with other names. Fields are read by name, unknown ones ignored, missing ones None; the
original item is kept in `raw`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from p2p_assets.lib.visma.errors import VismaResponseError


def parse_visma_datetime(value: Any, field_name: str = "date") -> datetime | None:
    """An ISO 8601 date as an aware UTC datetime; values without a zone are taken as UTC.

    Handles `2021-03-25T07:30:23.657Z`, `2021-01-10T21:05:41.937` and seven fractional digits
    (`2020-02-27T11:03:49.2033291Z`, truncated to microseconds).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise VismaResponseError(
                f"Visma {field_name} {text!r} is not an ISO 8601 date"
            ) from None
    else:
        raise VismaResponseError(f"Visma {field_name} {value!r} is not a date string")
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if item.get(key) is not None:
            return item[key]
    return None


def _int(value: Any, key: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise VismaResponseError(f"Visma field {key} is {value!r}, not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VismaResponseError(f"Visma field {key} is {value!r}, not a whole number") from None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


@dataclass(frozen=True)
class VismaFile:
    """One file in the File API, as listed to a subscriber or publisher, or as just uploaded."""

    file_id: str
    file_name: str
    business_type_id: int | None
    business_type_name: str | None
    file_size: int | None
    upload_date: datetime | None
    downloaded: bool
    deleted: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_api(cls, item: Any) -> "VismaFile":
        if not isinstance(item, Mapping):
            raise VismaResponseError(f"Visma file item is not a JSON object: {item!r}")
        file_id = _first(item, "fileId", "id", "FileId", "Id")
        file_name = _first(item, "fileName", "name", "FileName", "Name")
        if not file_id or not file_name:
            raise VismaResponseError(f"Visma file item without an id or a name: {dict(item)!r}")
        business = _first(item, "businessType", "BusinessType")
        if isinstance(business, Mapping):
            type_id = _int(_first(business, "id", "Id"), "businessType.id")
            type_name = _first(business, "name", "Name")
        else:
            type_id = _int(
                _first(item, "businessTypeId", "BusinessTypeId", "businessType"), "businessTypeId"
            )
            type_name = None
        return cls(
            file_id=str(file_id),
            file_name=str(file_name),
            business_type_id=type_id,
            business_type_name=str(type_name) if type_name is not None else None,
            file_size=_int(_first(item, "fileSize", "size", "FileSize", "Size"), "fileSize"),
            upload_date=parse_visma_datetime(
                _first(item, "uploadDate", "creationDate", "UploadDate"), "uploadDate"
            ),
            downloaded=_bool(item.get("downloaded", False)),
            deleted=_bool(item.get("deleted", False)),
            raw=dict(item),
        )


@dataclass(frozen=True)
class Page:
    """One page of a file list: its items and the `count` of all files matching the filter."""

    files: list[VismaFile]
    count: int | None
    page_index: int | None
    page_size: int | None

    @classmethod
    def from_api(cls, data: Any) -> "Page":
        if not isinstance(data, Mapping):
            raise VismaResponseError(f"Visma file list is not a JSON object: {str(data)[:200]!r}")
        items = data.get("data")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise VismaResponseError("Visma file list: `data` is not a list")
        return cls(
            files=[VismaFile.from_api(item) for item in items],
            count=_int(data.get("count"), "count"),
            page_index=_int(data.get("pageIndex"), "pageIndex"),
            page_size=_int(data.get("pageSize"), "pageSize"),
        )
