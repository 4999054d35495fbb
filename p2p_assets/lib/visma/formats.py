"""Parsing landed Visma files into Arrow tables, by the format their business type promises.

The four CSV formats share one mechanism: a declarative `Layout` per format and `_read_layout`.
Files are `;`-separated (`,` when the header has no `;`), UTF-8 with or without BOM; header names
match case-insensitively and in any order, extra columns are ignored. pyarrow reads every value as
text and the casts run set-wise; the first value that would be rounded, is not an ISO date or not
a number fails the whole file naming its line (1 = the first line after the header), because a
half-loaded payment or journal file is worse than none. SEPA XML (pain.001) is in `pain001.py`.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from p2p_assets.lib.visma.errors import VismaError
from p2p_assets.lib.visma.pain001 import AMOUNT, Unparseable, read_pain001

FORMATS = {
    "pain001": "a SEPA credit transfer initiation, ISO 20022 pain.001 (XML, or XML in a zip)",
    "sepa_csv": "a SEPA payment list (;-separated CSV)",
    "journal_postings": "payroll journal postings (;-separated CSV)",
    "rst_functie": "a functions/positions snapshot (;-separated CSV)",
    "employee_mutations": "employee mutations (;-separated CSV)",
}
_BY_TYPE = {113003: "journal_postings", 101002: "rst_functie", 101100: "employee_mutations"}
_BOM = b"\xef\xbb\xbf"
# Checked on the trimmed text before casting, so a bad value is named instead of rounded.
_PATTERNS = {
    "amount": r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$",
    "int": r"^-?[0-9]{1,18}$",
    "date": r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$",
}
_EXPECTED = {
    "amount": "an amount with at most 2 decimals, like 1234.50",
    "int": "a whole number",
    "date": "an ISO date (YYYY-MM-DD)",
}


class VismaFormatError(VismaError):
    """A landed file whose bytes do not parse as its business type promises."""

    def __init__(self, file_name: str, business_type_id: int | None, reason: str):
        self.file_name = file_name
        self.business_type_id = business_type_id
        self.reason = reason
        fmt = format_for(business_type_id, file_name)
        expected = FORMATS[fmt] if fmt else "its business type promises"
        super().__init__(
            f"Visma file {file_name} (business type {business_type_id}) does not parse as "
            f"{expected}: {reason}"
        )


@dataclass(frozen=True)
class ParsedFile:
    format: str  # a FORMATS key
    tables: dict[str, pa.Table]  # unqualified `visma` table -> rows, `file_id` first
    records: int  # business records: payments, postings, rows


@dataclass(frozen=True)
class Layout:
    """A CSV format: the table it fills and its columns (in output order) with their kinds."""

    table: str
    columns: dict[str, str]  # name -> "text" | "amount" | "int" | "date"
    required: tuple[str, ...] = ()  # must have a value on every line


LAYOUTS = {
    "sepa_csv": Layout(
        "sepa_csv_payments",
        {
            "batch_id": "text", "end_to_end_id": "text", "creditor_name": "text",
            "creditor_iban": "text", "creditor_bic": "text", "amount": "amount",
            "currency": "text", "execution_date": "date", "remittance_information": "text",
        },
        required=("amount",),
    ),
    "journal_postings": Layout(
        "journal_postings",
        {
            "journal": "text", "line": "int", "period": "text", "posting_date": "date",
            "account": "text", "cost_centre": "text", "description": "text", "amount": "amount",
        },
        required=("amount",),
    ),
    "rst_functie": Layout(
        "rst_functie",
        {"function_code": "text", "function_name": "text", "valid_from": "date"},
    ),
    # employee_id and field are the key the applied state is kept by (MUTATION_KEYS).
    "employee_mutations": Layout(
        "employee_mutations",
        {
            "mutation_id": "text", "employee_id": "text", "field": "text", "old_value": "text",
            "new_value": "text", "effective_date": "date",
        },
        required=("employee_id", "field"),
    ),
}  # fmt: skip


def format_for(business_type_id: int | None, file_name: str) -> str | None:
    """The format a file of this business type promises, or None (kept and inventoried, not
    parsed). Payment types also go by extension: 134001 delivers `*_SEPA.xml` and `*_SEPA.zip`."""
    name = file_name.lower()
    if business_type_id == 134001:
        return "pain001" if name.endswith((".xml", ".zip")) else None
    if business_type_id == 134000:
        return "sepa_csv" if name.endswith(".csv") else None
    return _BY_TYPE.get(business_type_id) if business_type_id is not None else None


def parse_file(
    path: Path, *, file_id: str, file_name: str, business_type_id: int | None
) -> ParsedFile | None:
    """None when format_for() is None; VismaFormatError when the bytes do not parse as promised."""
    fmt = format_for(business_type_id, file_name)
    if fmt is None:
        return None
    try:
        if fmt == "pain001":
            tables = read_pain001(path, file_id=file_id, file_name=file_name)
            return ParsedFile(fmt, tables, tables["sepa_payments"].num_rows)
        layout = LAYOUTS[fmt]
        table = _read_layout(path.read_bytes(), layout, file_id)
    except Unparseable as exc:
        raise VismaFormatError(file_name, business_type_id, str(exc)) from None
    return ParsedFile(fmt, {layout.table: table}, table.num_rows)


def _read_layout(content: bytes, layout: Layout, file_id: str) -> pa.Table:
    """`file_id`, `line_number`, then the layout's columns, cast; or Unparseable naming the line."""
    content = content.removeprefix(_BOM)
    if not content.strip():
        raise Unparseable("the file is empty: not even a header line")
    _check_text(content)
    header = content.partition(b"\n")[0].decode("utf-8").strip()
    delimiter = ";" if ";" in header else ","
    names: list[str] = []
    for i, raw_name in enumerate(next(csv.reader([header], delimiter=delimiter))):
        name = raw_name.strip().lower()
        if name in names and name in layout.columns:
            raise Unparseable(f"the header names column {name} twice")
        names.append(name if name in layout.columns else f"_ignored_{i}")
    missing = [c for c in layout.columns if c not in names]
    if missing:
        raise Unparseable(f"missing column(s) {', '.join(missing)} (header: {header!r})")
    if b"\n" not in content:
        content += b"\n"  # header only, no line end: pyarrow cannot skip a row it never ends
    raw = _read_csv(content, names, delimiter, list(layout.columns))
    columns = {
        "file_id": pa.repeat(pa.scalar(file_id, pa.string()), raw.num_rows),
        "line_number": pa.array(np.arange(1, raw.num_rows + 1, dtype=np.int64)),
    }
    for name, kind in layout.columns.items():
        text = raw.column(name)
        if kind != "text":
            text = pc.utf8_trim_whitespace(text)
        values = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if name in layout.required:
            _fail_at(pc.is_null(values), values, f"{name} is empty")
        if kind != "text":
            values = _cast(values, name, kind)
        columns[name] = values
    return pa.table(columns)


def _read_csv(
    content: bytes, names: list[str], delimiter: str, wanted: list[str], *, use_threads: bool = True
) -> pa.Table:
    """Every wanted column as strings ("" stays ""); a ragged line fails naming it."""
    ragged: list[pacsv.InvalidRow] = []

    def refuse(row: pacsv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    try:
        return pacsv.read_csv(
            io.BytesIO(content),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=use_threads
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=refuse
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(wanted, pa.string()),
                include_columns=wanted,
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if ragged and ragged[0].number is None and use_threads:
            # A threaded read does not know line numbers; read again, once, to name the line.
            return _read_csv(content, names, delimiter, wanted, use_threads=False)
        if ragged and ragged[0].number is not None:
            row = ragged[0]
            raise Unparseable(
                f"line {row.number - 1}: {row.actual_columns} fields where the header has "
                f"{row.expected_columns}"
            ) from None
        raise Unparseable(str(exc).splitlines()[0]) from None


def _cast(values: pa.ChunkedArray, name: str, kind: str) -> pa.ChunkedArray:
    """The typed column, or Unparseable naming the first line whose value is not of `kind`."""
    reason = f"{name} is not {_EXPECTED[kind]}"
    _fail_at(_invalid(values, pc.match_substring_regex(values, _PATTERNS[kind])), values, reason)
    if kind != "date":
        return pc.cast(values, AMOUNT if kind == "amount" else pa.int64())
    try:
        return pc.cast(values, pa.date32())  # strict: refuses 2024-02-30, but names no line
    except pa.ArrowInvalid:
        # Find the line: strptime takes 2024-02-30 as 2024-03-01, so a real date is one that
        # prints back as given. strftime is slow (seconds a million), hence only on failure.
        parsed = pc.strptime(values, "%Y-%m-%d", "s", error_is_null=True)
        _fail_at(
            _invalid(values, pc.equal(pc.strftime(parsed, "%Y-%m-%d"), values)), values, reason
        )
        raise


def _invalid(values: pa.ChunkedArray, ok: pa.ChunkedArray) -> pa.ChunkedArray:
    """Where there is a value and it is not ok (no value is the `required` check's business)."""
    return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(ok, False)))


def _fail_at(mask: pa.ChunkedArray, values: pa.ChunkedArray, reason: str) -> None:
    """Unparseable naming the first line where `mask` is true, with the value found there."""
    index = pc.index(mask, True).as_py()
    if index is not None and index >= 0:
        value = values[index].as_py()
        found = f" (found {value!r})" if value is not None else ""
        raise Unparseable(f"line {index + 1}: {reason}{found}")


def _check_text(content: bytes) -> None:
    """UTF-8 text or Unparseable naming the line: a binary or wrongly encoded file is refused
    whole, not loaded with replacement characters."""
    try:
        content.decode("utf-8")
        offset, reason = content.find(b"\x00"), "a NUL byte; this is not a text file"
    except UnicodeDecodeError as exc:
        offset, reason = exc.start, "bytes that are not UTF-8 text"
    if offset >= 0:
        line = content.count(b"\n", 0, offset)
        raise Unparseable(f"{f'line {line}' if line else 'the header'} has {reason}")
