"""Landing vendor files on disk, whatever the vendor: names from a vendor are data, never paths.

An id or file name a vendor sends becomes a directory or file name on our disk, a Dagster
partition key and a value in the warehouse, so it is refused unless it is a plain name: the
vendor's own character set, no leading dot (nothing hidden, no `.` or `..`), none of our own
bookkeeping names, and never a character a shell, a glob or a DuckDB reader would interpret.
Downloads grow in a `.partial` file before their atomic rename.
"""

import re
from collections.abc import Collection
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
# Suffixes of our own working files, never accepted as a vendor's name.
RESERVED_SUFFIXES = (PARTIAL_SUFFIX, ".tmp", ".lock")
PLAIN = re.compile(r"[A-Za-z0-9_.-]+")
"""Letters, digits, `_`, `.` and `-`: Basware's file names and ids."""
MAX_NAME_LENGTH = 200


def name_problem(
    name: object, *, pattern: re.Pattern[str] = PLAIN, reserved: Collection[str] = ()
) -> str | None:
    """Why `name` is not a plain name we may put on disk, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    if not pattern.fullmatch(name):
        return f"it has characters outside {pattern.pattern}"
    if name.startswith("."):
        return "it starts with a dot"
    if name in reserved or name.endswith(RESERVED_SUFFIXES):
        return "it is one of our own bookkeeping names"
    return None


def is_plain_file_name(file_name: str, *, pattern: re.Pattern[str] = PLAIN) -> bool:
    return name_problem(file_name, pattern=pattern) is None


def partial_path(final_path: Path) -> Path:
    return final_path.with_name(final_path.name + PARTIAL_SUFFIX)
