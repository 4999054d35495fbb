"""How the Business App API judges a record, field by field, in English or Dutch.

Messages follow the manual's examples ("Is required", "_ValueNotFound", "Error during converting
data '2012-13-13' to type 'DateTime'", "The email address is invalid") and their Dutch versions
when the request asks `Accept-Language: nl`.
"""

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from p2p_assets.sandbox.currency import is_currency
from p2p_assets.sandbox.workspace365.config import BusinessApp
from p2p_assets.sandbox.workspace365.fields import (
    DOUBLE_MAX,
    INT32_RANGE,
    NEVER_SUPPLIED,
    STRING_TYPES,
    SYSTEM_DECIMAL_MAX,
)

MESSAGES = {
    "en": {
        "required": "Is required",
        "email": "The email address is invalid",
        "convert": "Error during converting data '{value}' to type '{type}'",
        "currency": "Currency '{value}' is not supported",
        "body": "The request body must be a JSON object",
        "disabled": "Business App isn't enabled",
    },
    "nl": {
        "required": "Is vereist",
        "email": "Dit e-mailadres is ongeldig",
        "convert": "Fout bij het converteren van gegevens '{value}' naar type '{type}'",
        "currency": "Valuta '{value}' wordt niet ondersteund",
        "body": "De aanvraag moet een JSON-object zijn",
        "disabled": "Business App is niet ingeschakeld",
    },
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def language(accept_language: str | None) -> str:
    first = (accept_language or "").split(",")[0].strip().lower()
    return "nl" if first.startswith("nl") else "en"


def validate(
    app: BusinessApp, record: dict[str, Any], lang: str, currencies: frozenset[str]
) -> dict[str, str]:
    """Field name -> message for every field the record fails; empty when it may be created."""
    text = MESSAGES[lang]
    errors: dict[str, str] = {}
    for field in app.fields:
        if field.type in NEVER_SUPPLIED:
            continue  # supplied or not, such fields are created empty (or generated)
        value = record.get(field.name)
        empty = value is None or value == "" or value == []
        if empty:
            if field.required:
                errors[field.name] = text["required"]
            continue
        message = _check(field.type, field.options, value, text, currencies)
        if message:
            errors[field.name] = message
    return errors


def _check(
    kind: str,
    options: tuple[str, ...],
    value: Any,
    text: dict[str, str],
    currencies: frozenset[str],
) -> str | None:
    def convert(type_name: str) -> str:
        return text["convert"].format(value=value, type=type_name)

    if kind in STRING_TYPES:
        if not isinstance(value, str):
            return convert("String")
        if kind == "email" and not _EMAIL.match(value):
            return text["email"]
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return convert("Int32")
        if not INT32_RANGE[0] <= value <= INT32_RANGE[1]:
            return convert("Int32")
    elif kind in ("decimal", "percentage"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return convert("Double")
        if not -DOUBLE_MAX <= value <= DOUBLE_MAX:  # also refuses NaN
            return convert("Double")
    elif kind == "currency":
        if not isinstance(value, dict) or "Amount" not in value or "Currency" not in value:
            return convert("Currency")
        amount = value["Amount"]
        if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
            return convert("Decimal")
        try:
            exact = Decimal(str(amount))
        except InvalidOperation:
            return convert("Decimal")
        if not exact.is_finite() or abs(exact) > SYSTEM_DECIMAL_MAX:
            return convert("Decimal")
        if not is_currency(value["Currency"]) or value["Currency"] not in currencies:
            return text["currency"].format(value=value["Currency"])
    elif kind in ("date", "date_time"):
        if not isinstance(value, str) or not _parses(value, kind):
            return convert("DateTime")
    elif kind == "time":
        if not isinstance(value, str) or not _parses(value, kind):
            return convert("TimeSpan")
    elif kind == "dropdown":
        if not isinstance(value, str):
            return convert("String")
        if value not in options:
            return "_ValueNotFound"
    elif kind == "checkbox_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return convert("String[]")
        if any(v not in options for v in value):
            return "_ValueNotFound"
    return None


def _parses(value: str, kind: str) -> bool:
    try:
        if kind == "time":
            time.fromisoformat(value)
        elif kind == "date":
            date.fromisoformat(value[:10])  # a time part is accepted and ignored
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
