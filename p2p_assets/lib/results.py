"""Printing a DuckDB result for a person or a program: an aligned table, CSV or JSON.

A table is for reading in a terminal: at most `DEFAULT_MAX_ROWS` rows with a count of the rest,
long cells cut, columns past the terminal's width named instead of wrapped. CSV and JSON keep
every value whole (a DECIMAL stays an exact JSON number).
"""

import csv
import datetime
import decimal
import json
import math
import shutil
from collections.abc import Iterator
from typing import Any, TextIO

import duckdb

DEFAULT_MAX_ROWS = 40
CELL_WIDTH = 48  # a longer cell is cut, so one long text column does not push out the others
_BATCH = 10_000


def write(
    con: duckdb.DuckDBPyConnection,
    out: TextIO,
    fmt: str = "table",
    max_rows: int | None = None,
    hint: str = "",
) -> None:
    """The open result of `con` as "table", "csv" or "json"; at most `max_rows` rows (None: all,
    but 40 for a table; 0: all). `hint` follows the count of table rows left out."""
    names = [column[0] for column in con.description or ()]
    if fmt == "table":
        limit = DEFAULT_MAX_ROWS if max_rows is None else max_rows
        rows = con.fetchall() if limit == 0 else con.fetchmany(limit)
        more = _count_rest(con) if limit else 0
        width = shutil.get_terminal_size().columns if out.isatty() else None
        out.write(render_table(names, rows, more, width, hint))
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for row in _rows(con, max_rows):
            writer.writerow(["" if v is None else _text(v) for v in row])
    else:
        out.write("[")
        for number, row in enumerate(_rows(con, max_rows)):
            fields = ", ".join(
                f"{json.dumps(n)}: {_json(v)}" for n, v in zip(names, row, strict=True)
            )
            out.write(f"{',' if number else ''}\n{{{fields}}}")
        out.write("\n]\n")
    out.flush()


def _rows(con: duckdb.DuckDBPyConnection, max_rows: int | None) -> Iterator[tuple[Any, ...]]:
    left = max_rows or math.inf
    while left > 0 and (batch := con.fetchmany(int(min(left, _BATCH)))):
        left -= len(batch)
        yield from batch


def _count_rest(con: duckdb.DuckDBPyConnection) -> int:
    rest = 0
    while batch := con.fetchmany(_BATCH):
        rest += len(batch)
    return rest


def _json(value: Any) -> str:
    """A JSON value; a DECIMAL stays an exact number (never a float), dates are ISO 8601."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(str(value))
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cell(value: Any) -> str:
    text = "NULL" if value is None else _text(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _numeric(column: list[Any]) -> bool:
    """Numbers (and NULLs) only: aligned to the right."""
    values = [v for v in column if v is not None]
    kinds = (int, float, decimal.Decimal)
    return bool(values) and all(isinstance(v, kinds) and not isinstance(v, bool) for v in values)


def render_table(
    names: list[str],
    rows: list[tuple[Any, ...]],
    more: int = 0,
    width: int | None = None,
    hint: str = "",
) -> str:
    """Rows under their column names, aligned (numbers to the right); columns past `width` are
    left out and named; `more` rows not shown are counted."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [_numeric([r[i] for r in rows]) for i in range(len(names))]
    widths = [max([len(_cell(n)), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    shown, used = 0, 0
    while shown < len(names) and (width is None or shown == 0 or used + widths[shown] + 3 <= width):
        used += widths[shown] + 3
        shown += 1

    def line(values: list[str]) -> str:
        parts = [
            (v.rjust(w) if numeric[i] else v.ljust(w))
            for i, (v, w) in enumerate(zip(values[:shown], widths, strict=False))
        ]
        return (" " + " | ".join(parts)).rstrip() + "\n"

    text = line([_cell(n) for n in names])
    text += "-" + "-+-".join("-" * w for w in widths[:shown]) + "-\n"
    text += "".join(line(r) for r in cells)
    total = len(rows) + more
    footer = f"({total} row{'' if total == 1 else 's'}"
    if more:
        footer += f", {more} more not shown{hint}"
    text += footer + ")\n"
    if shown < len(names):
        hidden = names[shown:]
        text += f"({len(hidden)} more column{'s' * (len(hidden) > 1)}: {', '.join(hidden)})\n"
    return text
