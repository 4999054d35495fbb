"""From Basware's Oracle column types to DuckDB types, and SQL that converts delivered text exactly.

Every delivered value is read as text first (DuckDB keeps a JSON number's literal when asked for
VARCHAR), then converted here, so amounts never pass through binary floating point. A value that
does not convert, or would lose digits or a time of day, is reported rather than silently rounded or
nulled.
"""

import re

# Day-first first: Basware writes `28/03/2024, 10:17:02`; ISO forms are accepted as a fallback.
# The order matters for speed: a format that fails to match costs far more than one that matches.
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")
DATETIME_FORMATS = (
    "%d/%m/%Y, %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)
_SCALE = re.compile(r"^DECIMAL\((\d+),(\d+)\)$")
_NUMBER = re.compile(r"^NUMBER\s*(?:\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\))?$", re.IGNORECASE)
_TEXT = re.compile(r"^(N?VARCHAR2?|N?CHAR|N?CLOB|LONG|RAW)\b", re.IGNORECASE)


def duckdb_type(column: str, oracle_type: str | None) -> str:
    """The warehouse type of a Basware column (identifiers are always text)."""
    if column == "ID" or column.endswith("_ID"):
        return "VARCHAR"
    if not oracle_type:
        return "VARCHAR"
    declared = oracle_type.strip().upper()
    if _TEXT.match(declared):
        return "VARCHAR"
    if declared == "DATE" or declared.startswith("TIMESTAMP"):
        # An Oracle DATE carries a time of day (Basware's extracts show it): kept, never cut.
        return "TIMESTAMP"
    if declared in ("FLOAT", "BINARY_DOUBLE", "BINARY_FLOAT") or declared.startswith("FLOAT"):
        return "DECIMAL(38,10)"
    number = _NUMBER.match(declared)
    if number:
        precision = int(number.group(1)) if number.group(1) else None
        scale = int(number.group(2)) if number.group(2) else 0
        if precision is None:
            return "DECIMAL(38,10)"
        precision = min(precision, 38)
        if scale <= 0:
            return "BIGINT" if precision <= 18 else f"DECIMAL({precision},0)"
        return f"DECIMAL({precision},{min(scale, precision)})"
    return "VARCHAR"


def widens(existing: str, target: str) -> bool:
    """True when a column typed `existing` can become `target` without loss (DATE -> TIMESTAMP:
    warehouses from before Oracle DATEs kept their time of day)."""
    return existing == "DATE" and target == "TIMESTAMP"


def conversion_sql(raw: str, target: str) -> str:
    """SQL turning the text column `raw` (already quoted) into `target`; NULL where it does not
    convert."""
    text = f"NULLIF(trim({raw}), '')"
    if target == "VARCHAR":
        return raw
    if target == "DATE":
        return f"CAST(try_strptime({text}, {_formats(DATE_FORMATS + DATETIME_FORMATS)}) AS DATE)"
    if target == "TIMESTAMP":
        return f"try_strptime({text}, {_formats(DATETIME_FORMATS + DATE_FORMATS)})"
    return f"TRY_CAST({text} AS {target})"


def invalid_sql(raw: str, target: str) -> str:
    """SQL that is true where a delivered value cannot be stored as `target` without loss."""
    text = f"NULLIF(trim({raw}), '')"
    if target == "VARCHAR":
        return "false"
    lossy = "false"
    if target == "DATE":
        # Oracle DATE can carry a time of day; refuse to drop it rather than truncate.
        stamp = f"try_strptime({text}, {_formats(DATETIME_FORMATS)})"
        lossy = (
            f"(length({text}) > 10 AND {stamp} <> CAST({conversion_sql(raw, target)} AS TIMESTAMP))"
        )
    elif target == "BIGINT":
        lossy = f"regexp_matches({text}, '\\.[0-9]*[1-9]')"
    elif match := _SCALE.match(target):
        # Digits beyond the scale that are not zeros would be rounded away by the cast.
        lossy = f"regexp_matches({text}, '\\.[0-9]{{{match.group(2)}}}[0-9]*[1-9]')"
    return f"({text} IS NOT NULL AND ({conversion_sql(raw, target)} IS NULL OR {lossy}))"


def _formats(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{fmt}'" for fmt in formats) + "]"
