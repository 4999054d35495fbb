"""Parsing landed Visma files into Arrow tables, by the format their business type promises.

Four CSV layouts go through one mechanism (`Layout` + `_read_layout`): `;`-separated (`,` when the
header has no `;`), UTF-8 with or without BOM, header names matched case-insensitively in any
order, extra columns ignored. Values are read as text and cast set-wise with pyarrow; an amount
that would be rounded, a date that is not ISO, a missing required value: the file fails with the
first offending line (1 = the first line after the header). SEPA payment files (pain.001) are XML
and parsed in `pain001.py`.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from p2p_assets.lib.visma.errors import VismaError

AMOUNT = pa.decimal128(18, 2)
_PATTERNS = {
    "amount": r"^\s*-?\d{1,16}(\.\d{1,2})?\s*$",
    "int": r"^\s*-?\d{1,18}\s*$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
}
_TYPES = {"text": pa.string(), "amount": AMOUNT, "int": pa.int64(), "date": pa.date32()}
_EXPECTED = {
    "amount": "an amount with at most 2 decimals (e.g. 1234.50)",
    "int": "a whole number",
    "date": "an ISO date (YYYY-MM-DD)",
}


class VismaFormatError(VismaError):
    """A landed file that does not parse as its business type promises."""

    def __init__(self, file_name: str, business_type_id: int | None, reason: str):
        self.file_name = file_name
        self.business_type_id = business_type_id
        self.reason = reason
        super().__init__(
            f"Visma file {file_name} (business type {business_type_id}) does not parse: {reason}"
        )


@dataclass(frozen=True)
class ParsedFile:
    format: str
    tables: dict[str, pa.Table]  # unqualified warehouse table -> rows, `file_id` first
    records: int


@dataclass(frozen=True)
class Layout:
    table: str
    columns: dict[str, str]  # name -> text | amount | int | date
    required: tuple[str, ...] = ()  # columns that must have a value on every line


LAYOUTS = {
    "sepa_csv": Layout(
        "sepa_csv_payments",
        {
            "batch_id": "text", "end_to_end_id": "text", "creditor_name": "text",
            "creditor_iban": "text", "creditor_bic": "text", "amount": "amount",
            "currency": "text", "execution_date": "date", "remittance_information": "text",
        },
        required=("end_to_end_id", "creditor_iban", "amount", "currency"),
    ),
    "journal_postings": Layout(
        "journal_postings",
        {
            "journal": "text", "line": "int", "period": "text", "posting_date": "date",
            "account": "text", "cost_centre": "text", "description": "text", "amount": "amount",
        },
        required=("journal", "account", "amount"),
    ),
    "rst_functie": Layout(
        "rst_functie",
        {"function_code": "text", "function_name": "text", "valid_from": "date"},
        required=("function_code",),
    ),
    "employee_mutations": Layout(
        "employee_mutations",
        {
            "mutation_id": "text", "employee_id": "text", "field": "text", "old_value": "text",
            "new_value": "text", "effective_date": "date",
        },
        required=("employee_id", "field"),
    ),
}  # fmt: skip

FORMATS = {
    "pain001": "SEPA credit transfer initiation, ISO 20022 pain.001 (XML, or XML in a zip)",
    "sepa_csv": "SEPA payment list, ;-separated CSV",
    "journal_postings": "payroll journal postings, ;-separated CSV",
    "rst_functie": "functions/positions snapshot, ;-separated CSV",
    "employee_mutations": "employee mutations, ;-separated CSV",
}


def format_for(business_type_id: int | None, file_name: str) -> str | None:
    """The format a file of this business type promises, or None (kept, inventoried, unparsed)."""
    name = file_name.lower()
    if business_type_id == 134001 and name.endswith((".xml", ".zip")):
        return "pain001"
    if business_type_id == 134000 and name.endswith(".csv"):
        return "sepa_csv"
    return {113003: "journal_postings", 101002: "rst_functie", 101100: "employee_mutations"}.get(
        business_type_id or 0
    )


def parse_file(
    path: Path, *, file_id: str, file_name: str, business_type_id: int | None
) -> ParsedFile | None:
    fmt = format_for(business_type_id, file_name)
    if fmt is None:
        return None

    def fail(reason: str) -> VismaFormatError:
        return VismaFormatError(file_name, business_type_id, f"not {FORMATS[fmt]}: {reason}")

    if fmt == "pain001":
        from p2p_assets.lib.visma.pain001 import parse_pain001

        return parse_pain001(path, file_id=file_id, file_name=file_name, fail=fail)
    layout = LAYOUTS[fmt]
    table = _read_layout(path.read_bytes(), layout, file_id, fail)
    return ParsedFile(fmt, {layout.table: table}, table.num_rows)


def _read_layout(content: bytes, layout: Layout, file_id: str, fail) -> pa.Table:
    if not content.strip():
        raise fail("the file is empty")
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        header = content.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise fail("the header line is not UTF-8 text") from None
    delimiter = ";" if ";" in header else ","
    names = [h.strip().strip('"').lower() for h in header.strip().split(delimiter)]
    missing = [c for c in layout.columns if c not in names]
    if missing:
        raise fail(f"missing column(s) {', '.join(missing)} (header: {header.strip()!r})")
    try:
        raw = pacsv.read_csv(
            io.BytesIO(content),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=list(layout.columns),
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    columns = {
        "file_id": pa.array([file_id] * raw.num_rows, pa.string()),
        "line_number": pa.array(range(1, raw.num_rows + 1), pa.int64()),
    }
    for name, kind in layout.columns.items():
        text = pc.utf8_trim_whitespace(raw.column(name))
        empty = pc.equal(text, "")
        if name in layout.required:
            _first_bad(empty, f"column {name} is empty", fail)
        values = pc.if_else(empty, pa.scalar(None, pa.string()), text)
        if kind != "text":
            wrong = pc.invert(pc.match_substring_regex(values, _PATTERNS[kind]))
            _first_bad(pc.fill_null(wrong, False), f"{name} is not {_EXPECTED[kind]}", fail,
                       values)  # fmt: skip
            try:
                values = pc.cast(values, _TYPES[kind])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise fail(f"column {name}: {exc}") from None
        columns[name] = values
    return pa.table(columns)


def _first_bad(mask, reason: str, fail, values=None) -> None:
    index = pc.index(mask, True).as_py()
    if index is not None and index >= 0:
        shown = f" ({values[index].as_py()!r})" if values is not None else ""
        raise fail(f"line {index + 1}: {reason}{shown}")
