"""Extract files as Basware delivers them, written once to a cache under the state dir.

Per table, files `IA_INVOICE_0001.json.gz`, `_0002`, ... of at most `max_records_per_file`
records. JSON files are an array of objects, one per line, with null fields omitted; CSV files
have a header row, RFC 4180 quoting and CRLF line ends, an empty field meaning null. Values are
text built from integers and dates (amounts are exact decimal literals), dates day first. The key
order is rotated a little from file to file so clients must read fields by name.

The "dataset" zip layout (compression "zip") delivers one zip per data set of the manual instead,
`INVOICE_DATASET_0001.zip` holding `data/IA_INVOICE_0001.json`, `data/IA_INVOICE_ROW_0001.json`,
...: zip number n holds the n-th file of each of the data set's tables, and its file list entry
is named after the data set's first table. A table outside the manual's data sets (one Basware
added) is a data set of its own, `<TABLE>_DATASET_0001.zip`. With `duplicate_basenames`,
IA_INVOICE's records are split over `part1/` and `part2/` members with the same base name.
"""

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from p2p_assets.sandbox.basware.archives import SUFFIX, pack
from p2p_assets.sandbox.basware.schema import Column
from p2p_assets.sandbox.basware.tables import DATA_SETS

MANIFEST = "manifest.json"
CONTENT_TYPES = {".gz": "application/gzip", ".zip": "application/zip"}
SPLIT_TABLE = "IA_INVOICE"  # the table `duplicate_basenames` splits


@dataclass(frozen=True)
class Layout:
    """How records become files: the format and compression of the tenant, and the zip layout
    and duplicate base names of the current faults."""

    file_format: str
    compression: str
    max_records: int
    zip_layout: str = "table"
    duplicate_basenames: bool = False

    @property
    def by_data_set(self) -> bool:
        return self.compression == "zip" and self.zip_layout == "dataset"


def file_name(table: str, number: int, file_format: str, compression: str) -> str:
    return f"{table}_{number:04d}.{file_format}{SUFFIX[compression]}"


def content_type(name: str) -> str:
    suffix = Path(name).suffix
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return "text/csv; charset=utf-8" if suffix == ".csv" else "application/json"


def _text(column: Column, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(column.name)
    if column.kind == "date" and dtype == pl.Date:
        return col.dt.strftime("%d/%m/%Y")
    if column.kind in ("date", "timestamp"):
        return col.dt.strftime("%d/%m/%Y, %H:%M:%S")
    if column.kind == "decimal":
        unit = 10**column.scale
        sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        whole = (col.abs() // unit).cast(pl.String)
        fraction = (col.abs() % unit).cast(pl.String).str.zfill(column.scale)
        return pl.concat_str([sign, whole, pl.lit("."), fraction])
    return col.cast(pl.String)


def _json_field(column: Column, dtype: pl.DataType) -> pl.Expr:
    value = _text(column, dtype)
    if column.kind in ("int", "decimal"):
        return pl.concat_str([pl.lit(f'"{column.name}":'), value])
    escaped = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True
    )
    return pl.concat_str([pl.lit(f'"{column.name}":"'), escaped, pl.lit('"')])


def encode(frame: pl.DataFrame, columns: list[Column], file_format: str) -> bytes:
    """One file's records as JSON or CSV bytes, fields in the order of `columns`."""
    dtypes = frame.schema
    if file_format == "csv":
        text = frame.select(_text(c, dtypes[c.name]).alias(c.name) for c in columns)
        return text.write_csv(quote_style="necessary", line_terminator="\r\n").encode("utf-8")
    fields = [_json_field(c, dtypes[c.name]) for c in columns]
    record = pl.concat_str(
        [pl.lit("{"), pl.concat_str(fields, separator=",", ignore_nulls=True), pl.lit("}")]
    )
    lines = frame.select(record.alias("r")).to_series()
    if frame.height == 0:
        return b"[]\n"
    return ("[\n" + lines.str.join(",\n").item() + "\n]\n").encode("utf-8")


def _rotated(columns: list[Column], shift: int) -> list[Column]:
    """ID first, the rest rotated: enough to break clients that read by position."""
    rest = columns[1:]
    shift = shift % len(rest) if rest else 0
    return columns[:1] + rest[shift:] + rest[:shift]


Tables = dict[str, tuple[pl.DataFrame, list[Column]]]
# One member of a file to write: (member name, table, records, columns in order).
Member = tuple[str, str, pl.DataFrame, list[Column]]


def _chunks(frame: pl.DataFrame, max_records: int) -> list[pl.DataFrame]:
    return [frame.slice(start, max_records) for start in range(0, frame.height, max_records)]


def _jobs(tables: Tables, layout: Layout, extract: int) -> list[tuple[str, str, list[Member]]]:
    """(file name, announced table, members) of every file of the extract, in delivery order."""
    fmt, compression = layout.file_format, layout.compression
    jobs = []
    if not layout.by_data_set:
        for table, (frame, columns) in tables.items():
            for number, chunk in enumerate(_chunks(frame, layout.max_records), start=1):
                name = file_name(table, number, fmt, compression)
                member = name.removesuffix(SUFFIX[compression])
                rotated = _rotated(columns, extract + number - 1)
                jobs.append((name, table, [(member, table, chunk, rotated)]))
        return jobs
    known = {t for data_set in DATA_SETS for t in data_set.tables}
    groups = [(d.name, d.tables) for d in DATA_SETS]
    groups += [(table, (table,)) for table in tables if table not in known]
    for data_set, members in groups:
        present = [t for t in members if t in tables]
        chunks = {t: _chunks(tables[t][0], layout.max_records) for t in present}
        for number in range(1, max((len(c) for c in chunks.values()), default=0) + 1):
            entries: list[Member] = []
            for table in present:
                if number > len(chunks[table]):
                    continue
                chunk, base = chunks[table][number - 1], f"{table}_{number:04d}.{fmt}"
                columns = _rotated(tables[table][1], extract + number - 1)
                if layout.duplicate_basenames and table == SPLIT_TABLE:
                    half = (chunk.height + 1) // 2
                    entries.append((f"part1/{base}", table, chunk.slice(0, half), columns))
                    entries.append((f"part2/{base}", table, chunk.slice(half), columns))
                else:
                    entries.append((f"data/{base}", table, chunk, columns))
            if entries:
                jobs.append((f"{data_set}_DATASET_{number:04d}.zip", members[0], entries))
    return jobs


def write_extract(
    directory: Path, tables: Tables, *, extract: int, layout: Layout, when: datetime
) -> list[dict]:
    """Write every table's files into `directory` (atomically: a temp dir renamed into place)
    and return the manifest: [{tableName, fileName, recordCount, members}] in delivery order,
    `members` being [{name, tableName, recordCount}] of what the file holds."""
    if (directory / MANIFEST).exists():
        return read_manifest(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=directory.parent))
    try:

        def write(job: tuple[str, str, list[Member]]) -> dict:
            name, table, members = job
            packed = [(m, encode(chunk, cols, layout.file_format)) for m, _, chunk, cols in members]
            (staging / name).write_bytes(pack(packed, layout.compression, when))
            held = [
                {"name": m, "tableName": t, "recordCount": chunk.height}
                for m, t, chunk, _ in members
            ]
            total = sum(m["recordCount"] for m in held)
            return {"tableName": table, "fileName": name, "recordCount": total, "members": held}

        # polars and zlib release the GIL, so threads give real parallelism here.
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            manifest = list(pool.map(write, _jobs(tables, layout, extract)))
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(staging, directory)
        except OSError:
            # Another process or thread wrote the same deterministic files first: keep theirs.
            if not (directory / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return read_manifest(directory)


def read_manifest(directory: Path) -> list[dict]:
    return json.loads((directory / MANIFEST).read_text())
