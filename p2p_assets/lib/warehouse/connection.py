"""Opening the DuckDB warehouse safely from many processes.

DuckDB allows one read-write process per file. Dagster's `duckdb` pool serialises our own writers;
the retry here covers everything else that may hold the file for a moment (a second run's checks, a
user's CLI session), so a busy warehouse means waiting, not a failed run. The wait says every 30 s
what holds the file (DuckDB names the holder's program and pid) and ends after
`P2P_WAREHOUSE_WAIT_SECONDS` (default 300), so a forgotten session is found, not waited for.
"""

import logging
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from p2p_assets import settings

log = logging.getLogger(__name__)

_LOCK_MESSAGE = re.compile(r"lock|being used by another process", re.IGNORECASE)
# DuckDB's own words: 'Conflicting lock is held in /usr/bin/python3.11 (PID 1234)'.
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
WAIT_VARIABLE = "P2P_WAREHOUSE_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 300.0
REPORT_EVERY_SECONDS = 30.0
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


def wait_seconds_from_env() -> float:
    """How long `connect` waits for a locked warehouse: `P2P_WAREHOUSE_WAIT_SECONDS`."""
    return settings.seconds_from_env(WAIT_VARIABLE, DEFAULT_WAIT_SECONDS)


def lock_holder(message: str) -> str:
    """Who holds the file, from DuckDB's lock error: `PID 1234 (/usr/bin/python3.11)`."""
    found = _HOLDER.search(message)
    if not found:
        return "another process"
    return f"PID {found['pid']} ({found['program']})"


@contextmanager
def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float | None = None,
    memory_limit: str = "640MB",
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (with jittered backoff) while another process holds its lock:
    `wait_seconds`, default `P2P_WAREHOUSE_WAIT_SECONDS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = wait_seconds_from_env() if wait_seconds is None else wait_seconds
    started = last_report = time.monotonic()
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _LOCK_MESSAGE.search(str(exc)):
                raise
            holder = lock_holder(str(exc))
            waited = time.monotonic() - started
            if waited >= limit:
                raise WarehouseBusyError(
                    f"DuckDB warehouse {path} stayed locked by {holder} for {waited:.0f} s; "
                    f"gave up ({WAIT_VARIABLE}={limit:.0f})"
                ) from exc
            if time.monotonic() - last_report >= REPORT_EVERY_SECONDS:
                log.warning(
                    "waiting %.0f s for the DuckDB warehouse %s: %s holds its lock "
                    "(gives up after %.0f s, %s)",
                    waited,
                    path,
                    holder,
                    limit,
                    WAIT_VARIABLE,
                )
                last_report = time.monotonic()
            log.debug("warehouse %s is locked by %s; retrying in %.2f s", path, holder, delay)
            time.sleep(min(delay * (0.5 + random.random()), max(0.0, limit - waited)))
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
