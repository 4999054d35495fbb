"""`p2p-assets sql`: read-only queries on the published warehouse, one-shot or at a prompt.

Every query opens its own read-only connection and closes it before the next, so each sees the
newest published snapshot. Closing matters: DuckDB's Python module keeps one database instance per
path per process, and a new `duckdb.connect(path)` made while another connection to the path is
still open reuses that instance, i.e. the file as it was, even after a new snapshot was renamed
over the path. Closing also frees a replaced snapshot's disk space, which the kernel keeps while
a reader has the file open.
"""

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import duckdb

from p2p_assets import settings
from p2p_assets.lib import results

PROMPT, CONTINUATION = "p2p> ", "...> "
MORE_ROWS_HINT = ": --max-rows N, 0 for all"
HISTORY = Path("~/.p2p_assets_sql_history")
TABLES = """
    SELECT table_schema || '.' || table_name
    FROM information_schema.tables
    WHERE table_catalog = current_database()
      AND table_schema NOT IN ('information_schema', 'pg_catalog')
    ORDER BY 1
"""
HELP = """\
End a statement with ';' (or an empty line); until then the next line continues it.
Each statement runs on a fresh read-only connection, so it sees the newest published snapshot;
SET and temporary tables last only for the statements sent together (one line may hold several).
.tables   list schema.table names
.help     this text
.quit     leave (or Ctrl-D)"""


class QueryError(Exception):
    """What the user sees on one line: a DuckDB error or a missing warehouse."""


@contextlib.contextmanager
def _connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published warehouse, closed on leaving (see module doc)."""
    missing = QueryError(
        f"no warehouse yet at {path}: run `p2p-assets sync` or materialise assets first"
    )
    if not path.is_file():
        raise missing
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise (missing if not path.is_file() else QueryError(_one_line(exc))) from None
    # Ctrl-C stops the query, not the prompt (DuckDB alone notices it only between chunks).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: con.interrupt()) if main else None
    try:
        yield con
    finally:
        if main:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        con.close()


def _one_line(exc: BaseException) -> str:
    """DuckDB's message without its 'LINE 1: ...' caret picture, on one line."""
    if isinstance(exc, duckdb.InterruptException):
        return "interrupted"
    text = str(exc).split("\nLINE ", 1)[0]
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if "read-only mode" in line:
        line += " (the warehouse is read-only here: only the pipeline writes it)"
    return line


def run(path: Path, sql: str, out: TextIO, fmt: str = "table", max_rows: int | None = None) -> None:
    """Run every statement of `sql` in order on one fresh read-only connection, printing each
    result that has columns. Raises QueryError."""
    with _connection(path) as con:
        try:
            printed = 0
            for statement in con.extract_statements(sql):
                con.execute(statement)
                if con.description:
                    if printed and fmt == "table":
                        out.write("\n")
                    results.write(con, out, fmt, max_rows, MORE_ROWS_HINT)
                    printed += 1
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None


def query(sql: str, fmt: str = "table", max_rows: int | None = None) -> int:
    """`p2p-assets sql "..."`: 0, or 1 with the error on one line of stderr."""
    try:
        run(settings.warehouse_path(), sql, sys.stdout, fmt, max_rows)
    except QueryError as exc:
        print(f"p2p-assets sql: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `p2p-assets sql ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _read_statements(interactive: bool) -> Iterator[str]:
    """Statements from stdin, each ended by ';' at the end of a line or by an empty line (not by a
    line that merely parses: `select count(*)` then `from t` is one statement). A line starting
    with '.' is a command, after any statement typed before it. Ctrl-C drops what was typed."""
    lines: list[str] = []
    while True:
        try:
            line = input((CONTINUATION if lines else PROMPT) if interactive else "")
        except EOFError:
            if interactive:
                print()
            if lines:
                yield "\n".join(lines)
            return
        except KeyboardInterrupt:
            print(file=sys.stderr)
            lines = []
            continue
        stripped = line.strip()
        if stripped.startswith(".") or (not stripped and lines):
            if lines:
                yield "\n".join(lines)
                lines = []
            if stripped:
                yield stripped
        elif stripped:
            lines.append(line)
            if stripped.endswith(";"):
                yield "\n".join(lines)
                lines = []


def _history() -> None:
    """Line editing and a history file, where Python has readline."""
    try:
        import readline
    except ImportError:  # e.g. Windows: the prompt works without history
        return
    path = HISTORY.expanduser()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)

    def save() -> None:
        with contextlib.suppress(OSError):
            readline.write_history_file(path)

    atexit.register(save)


def tables(path: Path) -> list[str]:
    """Every schema.table (and view) in the warehouse."""
    with _connection(path) as con:
        try:
            return [row[0] for row in con.execute(TABLES).fetchall()]
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None


def shell(fmt: str = "table", max_rows: int | None = None) -> int:
    """`p2p-assets sql`: the prompt. An error is printed and the prompt goes on; piped input exits
    1 if any statement failed."""
    path = settings.warehouse_path()
    interactive = sys.stdin.isatty()
    if interactive:
        _history()
        print(f"p2p-assets sql: {path}, read-only; each statement sees the newest snapshot.")
        print("Type .help for help, .quit or Ctrl-D to leave.")
    failed = False
    for statement in _read_statements(interactive):
        if statement in (".quit", ".exit"):
            break
        try:
            if statement == ".help":
                print(HELP)
            elif statement == ".tables":
                names = tables(path)
                print("\n".join(names) if names else "(no tables)")
            elif statement.startswith("."):
                raise QueryError(f"unknown command {statement.split()[0]}: try .help")
            else:
                run(path, statement, sys.stdout, fmt, max_rows)
        except QueryError as exc:
            print(f"Error: {exc}", file=sys.stderr, flush=True)
            failed = True
        except KeyboardInterrupt:
            print("Interrupted", file=sys.stderr, flush=True)
        sys.stdout.flush()
    return 1 if failed and not interactive else 0
