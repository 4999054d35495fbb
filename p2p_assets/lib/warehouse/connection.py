"""Opening the DuckDB warehouse safely from many processes.

DuckDB allows one read-write process per file. Dagster's `duckdb` pool serialises our own writers;
the retry here covers everything else that may hold the file for a moment (a second run's checks, a
user's CLI session), so a busy warehouse means waiting, not a failed run.
"""

import logging
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

_LOCK_MESSAGE = re.compile(r"lock|being used by another process", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,127}$")


class WarehouseBusyError(RuntimeError):
    """The warehouse file stayed locked by another process for longer than we would wait."""


def quote_ident(name: str) -> str:
    """Quote a table or column name for SQL; names that are not plain identifiers are refused, not
    escaped.
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not an acceptable SQL identifier: {name!r}")
    return f'"{name}"'


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, wait_seconds: float = 300.0, memory_limit: str = "640MB"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (with jittered backoff) while another process holds its lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _LOCK_MESSAGE.search(str(exc)) or time.monotonic() >= deadline:
                if _LOCK_MESSAGE.search(str(exc)):
                    raise WarehouseBusyError(
                        f"DuckDB warehouse {path} stayed locked by another process for "
                        f"{wait_seconds:.0f} s"
                    ) from exc
                raise
            log.debug("warehouse %s is locked by another process; retrying in %.2f s", path, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
    try:
        # Spill to disk rather than grow without bound (the limit leaves room for Python and
        # Dagster under 1 GiB); insertion order is irrelevant to our tables.
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        if not read_only:
            tmp = path.parent / f"{path.name}.tmp"
            con.execute("SET temp_directory = ?", [str(tmp)])
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One atomic unit of work: committed as a whole or rolled back as a whole."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of an existing table (empty when the table does not exist)."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: data_type for name, data_type in rows}
