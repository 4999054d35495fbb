"""Parsing the Visma business types' files: exact values from the sandbox's generators, and a
clear error naming the file, line and reason for everything else."""

import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from p2p_assets.lib.visma.formats import VismaFormatError, format_for, parse_file
from p2p_assets.sandbox.visma import VismaSandboxConfig, data

CONFIG = VismaSandboxConfig()
WHEN = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def _parse(tmp_path: Path, business_type: int, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return parse_file(path, file_id="F1", file_name=name, business_type_id=business_type)


@pytest.mark.parametrize("index", [0, 1])  # *_SEPA.xml and *_SEPA.zip
def test_pain001_transfers_and_control_sums(tmp_path: Path, index: int) -> None:
    name, content = data.generate(CONFIG, 134001, index, WHEN)
    parsed = _parse(tmp_path, 134001, name, content)
    assert parsed is not None and parsed.format == "pain001"
    payments = parsed.tables["sepa_payments"].to_pylist()
    truth = data._payments(CONFIG, 134001, index)
    assert parsed.records == len(truth) == len(payments)
    for row, expected in zip(payments, truth, strict=True):
        assert row["file_id"] == "F1"
        assert row["end_to_end_id"] == expected["end_to_end"]
        assert row["amount"] == Decimal(expected["cents"]).scaleb(-2)
        assert (row["creditor_iban"], row["creditor_bic"]) == (expected["iban"], expected["bic"])
        assert row["creditor_name"] == expected["creditor"]
        assert row["remittance_information"] == expected["remittance"]
        assert row["currency"] == "EUR" and row["debtor_name"] == "Sandbox BV"
        assert str(row["requested_execution_date"]) == "2026-03-03"
    sums = parsed.tables["sepa_control_sums"].to_pylist()
    assert [s["level"] for s in sums] == ["message", "payment_information"]
    total = sum(Decimal(p["cents"]).scaleb(-2) for p in truth)
    for level in sums:
        assert level["number_of_transactions"] == level["parsed_transactions"] == len(truth)
        assert level["control_sum"] == level["parsed_amount"] == total


def test_csv_layouts_parse_exactly(tmp_path: Path) -> None:
    name, content = data.generate(CONFIG, 113003, 0, WHEN)
    postings = _parse(tmp_path, 113003, name, content)
    assert postings is not None and postings.format == "journal_postings"
    rows = postings.tables["journal_postings"].to_pylist()
    assert len(rows) >= CONFIG.journal_lines
    balances: dict[str, Decimal] = {}
    for row in rows:
        balances[row["journal"]] = balances.get(row["journal"], Decimal(0)) + row["amount"]
    assert set(balances.values()) == {Decimal("0.00")}
    assert [r["line_number"] for r in rows] == list(range(1, len(rows) + 1))

    name, content = data.generate(CONFIG, 101100, 2, WHEN)
    mutations = _parse(tmp_path, 101100, name, content)
    assert mutations is not None
    rows = mutations.tables["employee_mutations"].to_pylist()
    before = data.employee_departments(CONFIG, 2)
    assert [r["old_value"] for r in rows][0] == before[rows[0]["employee_id"]]

    name, content = data.generate(CONFIG, 134000, 0, WHEN)
    sepa = _parse(tmp_path, 134000, name, content)
    assert sepa is not None and sepa.records == CONFIG.payments_per_file
    name, content = data.generate(CONFIG, 101002, 1, WHEN)
    functions = _parse(tmp_path, 101002, name, content)
    assert functions is not None and functions.records == 12


def test_format_for() -> None:
    assert format_for(134001, "20240301_000_SEPA.xml") == "pain001"
    assert format_for(134001, "20240301_000_SEPA.ZIP") == "pain001"
    assert format_for(134001, "readme.txt") is None
    assert format_for(134000, "x_SEPA.csv") == "sepa_csv"
    assert format_for(113003, "RPD.SANDBOX.202403010600.001") == "journal_postings"
    assert format_for(7101, "sandbox_test_file_001.xml") is None
    assert format_for(None, "x.csv") is None


def test_a_file_of_unknown_format_is_not_parsed(tmp_path: Path) -> None:
    assert _parse(tmp_path, 7101, "sandbox_test_file_001.txt", b"hello\n") is None


JOURNAL_HEADER = b"journal;line;period;posting_date;account;cost_centre;description;amount\r\n"


@pytest.mark.parametrize(
    ("business_type", "name", "content", "reason"),
    [
        (134001, "a_SEPA.xml", b"<Document><CstmrCdtTrfInitn><GrpHdr>", "not well-formed"),
        (134001, "a_SEPA.xml", b"<Other/>", "root element is Other"),
        (134001, "a_SEPA.xml", b"\x89PNG\r\n garbage", "not well-formed"),
        (134001, "a_SEPA.zip", b"PK not a zip", "not a readable zip"),
        (113003, "RPD.X.1.1", b"", "empty"),
        (113003, "RPD.X.1.1", b"journal;line\r\nJ1;1\r\n", "missing column(s) period"),
        (113003, "RPD.X.1.1", JOURNAL_HEADER + b"J1;1;202403;2024-03-01;4000;CC1;x;12.345\r\n",
         "line 1: amount is not an amount"),
        (113003, "RPD.X.1.1", JOURNAL_HEADER + b"J1;1;202403;2024-03-01;4000;CC1;x;1.00\r\n"
         b"J1;2;202403;2024-03-01;4000;CC1;x;abc\r\n", "line 2: amount"),
        (113003, "RPD.X.1.1", JOURNAL_HEADER + b"J1;1;202403;01-03-2024;4000;CC1;x;1.00\r\n",
         "line 1: posting_date is not an ISO date"),
        (113003, "RPD.X.1.1", JOURNAL_HEADER + b"J1;1;202403;2024-03-01;4000;CC1;x;\r\n",
         "line 1: column amount is empty"),
    ],
)  # fmt: skip
def test_bad_files_fail_naming_file_and_reason(
    tmp_path: Path, business_type: int, name: str, content: bytes, reason: str
) -> None:
    with pytest.raises(VismaFormatError) as caught:
        _parse(tmp_path, business_type, name, content)
    assert name in str(caught.value) and "Visma" in str(caught.value)
    assert reason in caught.value.reason


def test_a_zip_without_xml_and_a_header_only_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "no payments here")
    with pytest.raises(VismaFormatError, match="no .xml"):
        _parse(tmp_path, 134001, "b_SEPA.zip", buffer.getvalue())
    empty = _parse(tmp_path, 113003, "RPD.X.2.1", JOURNAL_HEADER)
    assert empty is not None and empty.records == 0


def test_bom_comma_separated_any_column_order_and_extra_columns(tmp_path: Path) -> None:
    content = (
        b"\xef\xbb\xbfEffective_Date,Field,new_value,Employee_ID,old_value,mutation_id,extra\n"
        b"2024-03-01,department,HR,E00001,ICT,M1,ignored\n"
    )
    parsed = _parse(tmp_path, 101100, "mutations.csv", content)
    assert parsed is not None
    (row,) = parsed.tables["employee_mutations"].to_pylist()
    assert (row["employee_id"], row["old_value"], row["new_value"]) == ("E00001", "ICT", "HR")
    assert "extra" not in parsed.tables["employee_mutations"].column_names
