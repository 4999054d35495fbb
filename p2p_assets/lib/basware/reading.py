"""Reading one table's landed files with DuckDB's own readers, and the verdict on a file that does
not load: provably corrupt (downloaded again), or not the file's fault (kept).

Every field is read as text (DuckDB keeps a JSON number's literal when asked for VARCHAR) and
converted exactly in one pass into a temp table `_stage`, with a flag on every row holding a value
that did not convert (`validate` then names the file, column and value).
"""

import gzip
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from p2p_assets.lib.basware.schema import conversion_sql, invalid_sql
from p2p_assets.lib.basware.tables import KEY_COLUMN
from p2p_assets.lib.warehouse.connection import quote_ident

SOURCE_COLUMN = "_source_file"
# Failures that are ours (memory, disk, permissions), not the file's: never a reason to reject it.

_OURS = re.compile(
    r"no space left|disk (is )?full|permission denied|too many open files|cannot allocate|"
    r"out of memory",
    re.IGNORECASE,
)


class BaswareFileError(ValueError):
    """A delivered file cannot be loaded; names the extract, the file and the reason.

    `corrupt` is True only when the copy is provably damaged (an archive or parse error, fewer
    records than announced): then the landed copy is moved aside and downloaded again. Otherwise
    (a value we cannot convert, a record without an ID) the file stays: downloading it again
    would only spend one of the extract's few downloads on the same bytes.
    """

    def __init__(self, extract_id: str, file_name: str, reason: str, *, corrupt: bool = False):
        self.extract_id = extract_id
        self.file_name = file_name
        self.reason = reason
        self.corrupt = corrupt
        super().__init__(f"Basware extract {extract_id}, file {file_name}: {reason}")


class BaswareExtractError(ValueError):
    """The extract as a whole is inconsistent (for example fewer files than it announced)."""


@dataclass(frozen=True)
class ExtractInfo:
    id: str
    type: str
    extract_date: datetime
    start_date: datetime | None = None
    end_date: datetime | None = None
    name: str | None = None
    file_count: int | None = None


@dataclass(frozen=True)
class SourceFile:
    """A landed file ready for DuckDB: `.json`, `.csv`, optionally `.gz`; `record_count` as
    announced, if at all.
    """

    table_name: str
    file_name: str
    path: Path
    record_count: int | None = None
    error: str | None = None  # why the landed copy is known to be unreadable (a broken ZIP)

    @property
    def file_format(self) -> str:
        name = self.path.name.lower().removesuffix(".gz")
        if name.endswith(".json") or name.endswith(".ndjson"):
            return "json"
        if name.endswith(".csv"):
            return "csv"
        raise ValueError(
            f"unknown file format: {self.path.name} (expected .json or .csv, optionally .gz)"
        )


def json_layout(files: list[SourceFile]) -> str:
    """DuckDB's `format` for these JSON files: `array` when every one is a single JSON array (its
    first character is `[`), which DuckDB then reads without sniffing each file (faster);
    otherwise `auto` (newline-delimited records, or anything else DuckDB recognises)."""
    for source in files:
        opener = gzip.open if source.path.name.lower().endswith(".gz") else open
        try:
            with opener(source.path, "rb") as handle:
                head = handle.read(4096)
        except (OSError, EOFError, zlib.error):
            return "auto"  # unreadable: the reader itself will say why, naming the file
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            return "auto"
    return "array"


def reader_sql(file_format: str, layout: str = "auto") -> str:
    """A DuckDB reader over a parameter list of paths: every field as text, plus the source.
    `layout` is `json_layout`'s answer for JSON files."""
    if file_format == "json":
        if layout not in ("auto", "array"):
            raise ValueError(f"unknown JSON layout {layout!r}")
        return f"read_json(?, format='{layout}', columns=?, filename='{SOURCE_COLUMN}')"
    return (
        "read_csv(?, header=true, all_varchar=true, union_by_name=true, "
        f"filename='{SOURCE_COLUMN}')"
    )


def delivered_columns(
    con: duckdb.DuckDBPyConnection, extract: ExtractInfo, table: str, files: list[SourceFile]
) -> list[str]:
    """Every column present in any record of the table's files (new ones included), in order."""
    formats = {f.file_format for f in files}
    if len(formats) > 1:
        raise BaswareExtractError(
            f"Basware extract {extract.id}, table {table}: mixed file formats {sorted(formats)}"
        )
    paths = [str(f.path) for f in files]
    try:
        if formats == {"json"}:
            # Basware omits null fields, so only a full pass over the keys finds every column.
            keys = con.execute(
                "SELECT DISTINCT unnest(json_keys(json)) "
                f"FROM read_json_objects(?, format='{json_layout(files)}')",
                [paths],
            ).fetchall()
            delivered = sorted({k for (k,) in keys})
        else:
            rows = con.execute(
                f"DESCRIBE SELECT * FROM {reader_sql('csv')} LIMIT 0", [paths]
            ).fetchall()
            delivered = [row[0] for row in rows if row[0] != SOURCE_COLUMN]
    except duckdb.Error as exc:
        raise culprit(con, extract, files, exc) from exc
    if KEY_COLUMN not in delivered:
        delivered.insert(0, KEY_COLUMN)
    for column in delivered:
        try:
            quote_ident(column)
        except ValueError as exc:
            raise BaswareExtractError(
                f"Basware extract {extract.id}, table {table}: column name not accepted: {exc}"
            ) from exc
    return delivered


def stage(
    con: duckdb.DuckDBPyConnection,
    extract: ExtractInfo,
    files: list[SourceFile],
    delivered: list[str],
    target: Mapping[str, str],
) -> None:
    """Parse and convert the files in one pass into the temp table `_stage`, typed, with a flag on
    every row holding a value that did not convert exactly (examined by `_validate`)."""
    paths = [str(f.path) for f in files]
    con.execute("CREATE OR REPLACE TEMP TABLE _files (path VARCHAR, file_name VARCHAR)")
    con.executemany("INSERT INTO _files VALUES (?, ?)", [[str(f.path), f.file_name] for f in files])
    converted = ", ".join(
        f"{conversion_sql(quote_ident(c), target[c])} AS {quote_ident(c)}" for c in delivered
    )
    flags = [invalid_sql(quote_ident(c), target[c]) for c in delivered if target[c] != "VARCHAR"]
    bad = " OR ".join(flags) if flags else "false"
    file_format = files[0].file_format
    params: list[object] = [paths]
    layout = "auto"
    if file_format == "json":
        params.append({c: "VARCHAR" for c in delivered})
        layout = json_layout(files)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _stage AS SELECT {converted}, {SOURCE_COLUMN}, "
            f"coalesce({bad}, false) AS _bad FROM {reader_sql(file_format, layout)}",
            params,
        )
    except duckdb.Error as exc:
        raise culprit(con, extract, files, exc) from exc


def culprit(
    con: duckdb.DuckDBPyConnection, extract: ExtractInfo, files: list[SourceFile], exc: Exception
) -> BaswareFileError:
    """Find which file made DuckDB fail, so the error names it.

    The failed statement has aborted `con`'s transaction, so each file is read again on a cursor of
    its own (a separate transaction); on `con` every probe would fail and blame the first file.
    """
    if is_ours(exc):
        raise BaswareExtractError(
            f"Basware extract {extract.id}: loading failed for a reason of ours, not the files' "
            f"(they stay landed): {first_line(exc)}"
        ) from exc
    with con.cursor() as probe:
        for source in files:
            reader = (
                "SELECT count(*) FROM read_json_objects(?, format='auto')"
                if source.file_format == "json"
                else "SELECT count(*) FROM read_csv(?, header=true, all_varchar=true)"
            )
            try:
                probe.execute(reader, [str(source.path)]).fetchall()
            except duckdb.Error as file_exc:
                if is_ours(file_exc):
                    raise BaswareExtractError(
                        f"Basware extract {extract.id}: reading {source.file_name} failed for a "
                        f"reason of ours (the file stays landed): {first_line(file_exc)}"
                    ) from file_exc
                return BaswareFileError(
                    extract.id, source.file_name, first_line(file_exc), corrupt=True
                )
    # Every file reads on its own: the failure is not a file's to be rejected for.
    raise BaswareExtractError(
        f"Basware extract {extract.id}: loading {', '.join(f.file_name for f in files)} failed, "
        f"though each file reads on its own (they stay landed): {first_line(exc)}"
    ) from exc


def validate(
    con: duckdb.DuckDBPyConnection,
    extract: ExtractInfo,
    files: list[SourceFile],
    delivered: list[str],
    target: Mapping[str, str],
) -> None:
    counts = dict(
        con.execute(f"SELECT {SOURCE_COLUMN}, count(*) FROM _stage GROUP BY ALL").fetchall()
    )
    for source in files:
        found = counts.get(str(source.path), 0)
        if source.record_count is not None and found != source.record_count:
            raise BaswareFileError(
                extract.id,
                source.file_name,
                f"announced {source.record_count} records, the file holds {found}",
                corrupt=True,
            )
    missing_key = con.execute(
        f"SELECT {SOURCE_COLUMN} FROM _stage WHERE {quote_ident(KEY_COLUMN)} IS NULL LIMIT 1"
    ).fetchone()
    if missing_key:
        raise BaswareFileError(
            extract.id, file_name_of(files, missing_key[0]), "a record has no ID"
        )
    flagged = con.execute(f"SELECT {SOURCE_COLUMN} FROM _stage WHERE _bad LIMIT 1").fetchone()
    if not flagged:
        return
    # Rare path: re-read the offending file as text to say which value in which column is wrong.
    source = next(f for f in files if str(f.path) == flagged[0])
    params: list[object] = [[str(source.path)]]
    if source.file_format == "json":
        params.append({c: "VARCHAR" for c in delivered})
    for column in delivered:
        if target[column] == "VARCHAR":
            continue
        row = con.execute(
            f"SELECT {quote_ident(column)} FROM {reader_sql(source.file_format)} "
            f"WHERE {invalid_sql(quote_ident(column), target[column])} LIMIT 1",
            params,
        ).fetchone()
        if row:
            raise BaswareFileError(
                extract.id,
                source.file_name,
                f"column {column}: value {row[0]!r} is not a valid {target[column]}",
            )
    raise BaswareFileError(extract.id, source.file_name, "a value did not convert")


def file_name_of(files: list[SourceFile], path: str) -> str:
    for source in files:
        if str(source.path) == path:
            return source.file_name
    return path


def is_ours(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.OutOfMemoryException | MemoryError) or bool(
        _OURS.search(str(exc))
    )


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
