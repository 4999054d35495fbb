"""Boss Insights Common Data Model records: a warehouse row converted into the JSON the Data API
writes, validated completely before it is sent (a record with any field error is never sent).

Amounts travel in the currency's minor unit (cents for EUR, as Boss Insights' own amounts do),
converted exactly from the warehouse's decimals; dates as ISO 8601 dates; optional fields without
a value as null.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from p2p_assets.lib.currency import ISO_4217, to_minor_units


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    MINOR_UNITS = "minor_units"  # an amount, sent as an integer in the currency's minor unit
    CURRENCY = "currency"  # an ISO 4217 code
    DATE = "date"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class CdmField:
    name: str
    kind: Kind
    column: str
    required: bool = False
    currency_column: str | None = None
    """MINOR_UNITS only: the row's column holding the amount's currency code."""

    def __post_init__(self) -> None:
        if (self.kind == Kind.MINOR_UNITS) != bool(self.currency_column):
            raise ValueError(f"{self.name}: a minor-units amount needs its currency column")


class _Invalid(ValueError):
    pass


def to_record(
    fields: Sequence[CdmField], row: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The CDM record for `row`, and the field errors that keep it from being sent."""
    record: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        value = row.get(field.column)
        if value is None or value == "":
            if field.required:
                errors[field.name] = "is required"
            record[field.name] = None
            continue
        try:
            record[field.name] = _convert(field, value, row)
        except _Invalid as exc:
            errors[field.name] = str(exc)
    return record, errors


def _convert(field: CdmField, value: Any, row: Mapping[str, Any]) -> Any:
    if field.kind == Kind.TEXT:
        return str(value)
    if field.kind == Kind.BOOLEAN:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise _Invalid(f"{value!r} is not a boolean")
    if field.kind == Kind.CURRENCY:
        return _currency(value)
    if field.kind == Kind.DATE:
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _Invalid(f"{value!r} is not a date") from None
    number = _decimal(value)
    if field.kind == Kind.INTEGER:
        if number != number.to_integral_value():
            raise _Invalid(f"{value!r} is not a whole number")
        return int(number)
    assert field.currency_column
    code = _currency(row.get(field.currency_column))
    try:
        return to_minor_units(number, code)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ISO_4217:
        raise _Invalid(f"currency {value!r} is not an ISO 4217 code")
    return value.upper()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid(f"{value!r} is not a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise _Invalid(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise _Invalid(f"{value!r} is not a number")
    return number
