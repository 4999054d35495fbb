"""Extract files as Basware delivers them, written once to a cache under the state dir.

Per table, files `IA_INVOICE_0001.json.gz`, `_0002`, ... of at most `max_records_per_file`
records. JSON files are an array of objects, one per line, with null fields omitted; CSV files
have a header row, RFC 4180 quoting and CRLF line ends, an empty field meaning null. Values are
text built from integers and dates (amounts are exact decimal literals), dates day first. The key
order is rotated a little from file to file so clients must read fields by name. Encoding is
deterministic (gzip mtime 0, fixed zip timestamps), so a config always gives byte-identical files.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import polars as pl

from p2p_assets.sandbox.basware.schema import Column

MANIFEST = "manifest.json"
# Fast over small: a million-row benchmark extract must be written in seconds, not minutes.
_COMPRESS_LEVEL = 1
_SUFFIX = {"gz": ".gz", "zip": ".zip", "none": ""}
CONTENT_TYPES = {".gz": "application/gzip", ".zip": "application/zip"}


def file_name(table: str, number: int, file_format: str, compression: str) -> str:
    return f"{table}_{number:04d}.{file_format}{_SUFFIX[compression]}"


def content_type(name: str) -> str:
    suffix = Path(name).suffix
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return "text/csv; charset=utf-8" if suffix == ".csv" else "application/json"


def _text(column: Column) -> pl.Expr:
    col = pl.col(column.name)
    if column.kind == "date":
        return col.dt.strftime("%d/%m/%Y")
    if column.kind == "timestamp":
        return col.dt.strftime("%d/%m/%Y, %H:%M:%S")
    if column.kind == "decimal":
        unit = 10**column.scale
        sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        whole = (col.abs() // unit).cast(pl.String)
        fraction = (col.abs() % unit).cast(pl.String).str.zfill(column.scale)
        return pl.concat_str([sign, whole, pl.lit("."), fraction])
    return col.cast(pl.String)


def _json_field(column: Column) -> pl.Expr:
    value = _text(column)
    if column.kind in ("int", "decimal"):
        return pl.concat_str([pl.lit(f'"{column.name}":'), value])
    escaped = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True
    )
    return pl.concat_str([pl.lit(f'"{column.name}":"'), escaped, pl.lit('"')])


def encode(frame: pl.DataFrame, columns: list[Column], file_format: str) -> bytes:
    """One file's records as JSON or CSV bytes, fields in the order of `columns`."""
    if file_format == "csv":
        text = frame.select(_text(c).alias(c.name) for c in columns)
        return text.write_csv(quote_style="necessary", line_terminator="\r\n").encode("utf-8")
    fields = [_json_field(c) for c in columns]
    record = pl.concat_str(
        [pl.lit("{"), pl.concat_str(fields, separator=",", ignore_nulls=True), pl.lit("}")]
    )
    lines = frame.select(record.alias("r")).to_series()
    if frame.height == 0:
        return b"[]\n"
    return ("[\n" + lines.str.join(",\n").item() + "\n]\n").encode("utf-8")


def compress(data: bytes, compression: str, member: str, when: datetime) -> bytes:
    if compression == "gz":
        return gzip.compress(data, compresslevel=_COMPRESS_LEVEL, mtime=0)
    if compression == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo(member, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=_COMPRESS_LEVEL)
        return buffer.getvalue()
    return data


def decompress(content: bytes, compression: str) -> bytes:
    if compression == "gz":
        return gzip.decompress(content)
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return archive.read(archive.namelist()[0])
    return content


def _rotated(columns: list[Column], shift: int) -> list[Column]:
    """ID first, the rest rotated: enough to break clients that read by position."""
    rest = columns[1:]
    shift = shift % len(rest) if rest else 0
    return columns[:1] + rest[shift:] + rest[:shift]


def write_extract(
    directory: Path,
    tables: dict[str, tuple[pl.DataFrame, list[Column]]],
    *,
    extract: int,
    file_format: str,
    compression: str,
    max_records: int,
    when: datetime,
) -> list[dict]:
    """Write every table's files into `directory` (atomically: a temp dir renamed into place)
    and return the manifest: [{tableName, fileName, recordCount}] in delivery order."""
    if (directory / MANIFEST).exists():
        return read_manifest(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=directory.parent))
    try:
        jobs = [
            (table, number, frame.slice(start, max_records), columns)
            for table, (frame, columns) in tables.items()
            for number, start in enumerate(range(0, frame.height, max_records), start=1)
        ]

        def write(job: tuple[str, int, pl.DataFrame, list[Column]]) -> dict:
            table, number, chunk, columns = job
            name = file_name(table, number, file_format, compression)
            data = encode(chunk, _rotated(columns, extract + number - 1), file_format)
            (staging / name).write_bytes(
                compress(data, compression, name.removesuffix(".zip"), when)
            )
            return {"tableName": table, "fileName": name, "recordCount": chunk.height}

        # polars and zlib release the GIL, so threads give real parallelism here.
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            manifest = list(pool.map(write, jobs))
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


def corrupt(content: bytes, kind: str, name: str, compression: str) -> bytes:
    """The file as the `corrupt_files` fault serves it.

    truncated: the first half of the bytes (a cut archive, or cut JSON/CSV when uncompressed);
    garbage: unreadable bytes inside a valid archive; wrong_count: a valid file with its last
    record removed, so it holds one record fewer than the file list announces.
    """
    member = name.removesuffix(".zip")
    if kind == "truncated":
        return content[: max(1, len(content) // 2)]
    if kind == "garbage":
        seed = hashlib.sha256(name.encode()).digest()
        noise = b"\x00\xff" + b"".join(
            hashlib.sha256(seed + bytes([i])).digest() for i in range(64)
        )
        return compress(noise, compression, member, datetime(2024, 1, 1))
    text = decompress(content, compression).decode("utf-8")
    if name.removesuffix(_SUFFIX[compression]).endswith(".csv"):
        lines = text.split("\r\n")  # generated values never contain line breaks
        body = [line for line in lines[1:] if line]
        text = "\r\n".join([lines[0], *body[:-1]]) + "\r\n"
    else:
        records = [line.rstrip(",") for line in text.splitlines()[1:-1]]
        text = "[\n" + ",\n".join(records[:-1]) + "\n]\n" if len(records) > 1 else "[]\n"
    return compress(text.encode("utf-8"), compression, member, datetime(2024, 1, 1))
