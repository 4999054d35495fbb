"""Business App field types as the Workspace 365 manual (workspace365-business-app-api.txt)
describes them, and the sandbox's exact JSON for the records it stores.

The sandbox owns these rules instead of importing the client's, so the two are written from the
manual independently and a client that misreads it meets a sandbox that does not.
"""

import json
from decimal import Decimal
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    """The field types of Business App Builder, named as the sandbox's app configs name them."""

    # "passed as a string according to the JSON specification"
    SINGLE_LINE_TEXT = "single_line_text"
    MULTILINE_TEXT = "multiline_text"
    RICH_TEXT = "rich_text"
    EMAIL = "email"
    # "a JSON number without fractional part ... 32-bit signed integer"
    INTEGER = "integer"
    # "valid range and precision corresponds to that of a IEEE 754 double"
    DECIMAL = "decimal"
    PERCENTAGE = "percentage"
    # {"Amount": <number in the System.Decimal range>, "Currency": <ISO 4217 code>}
    CURRENCY = "currency"
    DATE = "date"  # 'Date only' mode: ISO 8601, a time part accepted and ignored
    DATE_TIME = "date_time"  # 'Date and time' mode: ISO 8601, zone optional
    TIME = "time"  # 'Time only' mode: ISO 8601 without a date, 24 hours
    DROPDOWN = "dropdown"  # the item's text, "" for none
    CHECKBOX_LIST = "checkbox_list"  # an array of the checked items' texts
    # "should not be supplied to the API and will have empty values in the created record"
    PARENT_LINK = "parent_link"
    CHILD_LINK = "child_link"
    EMAIL_LINK = "email_link"
    FOLDER_LINK = "folder_link"
    USER = "user"
    CALCULATION = "calculation"
    # "should not be supplied ... will have correctly generated values"
    AUTONUMBER = "autonumber"


STRING_TYPES = frozenset(
    {FieldType.SINGLE_LINE_TEXT, FieldType.MULTILINE_TEXT, FieldType.RICH_TEXT, FieldType.EMAIL}
)
NEVER_SUPPLIED = frozenset(
    {
        FieldType.PARENT_LINK, FieldType.CHILD_LINK, FieldType.EMAIL_LINK, FieldType.FOLDER_LINK,
        FieldType.USER, FieldType.CALCULATION, FieldType.AUTONUMBER,
    }
)  # fmt: skip
INT32_RANGE = (-(2**31), 2**31 - 1)
DOUBLE_MAX = 1.7976931348623157e308
SYSTEM_DECIMAL_MAX = Decimal("79228162514264337593543950335")


def dumps_exact(value: Any) -> str:
    """JSON for a record parsed with `parse_float=Decimal`, every decimal written back as the
    literal it arrived as (never through a float), so what is stored is what was sent."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{dumps_exact(v)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)
