"""Parsing the Visma business types' files: exact values from the sandbox's own generators, and an
error naming the file, the line and the reason for everything else (never a rounded amount)."""

import io
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from p2p_assets.lib.visma import pain001
from p2p_assets.lib.visma.errors import VismaError
from p2p_assets.lib.visma.formats import (
    FORMATS,
    ParsedFile,
    VismaFormatError,
    format_for,
    parse_file,
)
from p2p_assets.sandbox.visma import VismaSandboxConfig, data

CONFIG = VismaSandboxConfig()
WHEN = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)

PAYMENT_COLUMNS = [
    "file_id", "message_id", "payment_information_id", "end_to_end_id", "amount", "currency",
    "requested_execution_date", "debtor_name", "debtor_iban", "creditor_name", "creditor_iban",
    "creditor_bic", "remittance_information", "source_member", "transaction_number",
]  # fmt: skip
CONTROL_COLUMNS = [
    "file_id", "source_member", "level", "reference", "number_of_transactions", "control_sum",
    "parsed_transactions", "parsed_amount",
]  # fmt: skip
JOURNAL = b"journal;line;period;posting_date;account;cost_centre;description;amount\r\n"


def _parse(tmp_path: Path, business_type: int | None, name: str, content: bytes) -> ParsedFile:
    path = tmp_path / name
    path.write_bytes(content)
    parsed = parse_file(path, file_id="F1", file_name=name, business_type_id=business_type)
    assert parsed is not None
    return parsed


def _fails(tmp_path: Path, business_type: int, name: str, content: bytes) -> VismaFormatError:
    with pytest.raises(VismaFormatError) as caught:
        _parse(tmp_path, business_type, name, content)
    error = caught.value
    assert (error.file_name, error.business_type_id) == (name, business_type)
    assert str(error).startswith(f"Visma file {name} (business type {business_type})")
    assert error.reason in str(error)
    return error


def _zip(members: dict[str, bytes | None], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `members`; None makes a directory entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            if content is None:
                archive.mkdir(name)
            else:
                archive.writestr(name, content)
    return buffer.getvalue()


def _euros(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# pain.001 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1], ids=["xml", "zip"])
def test_pain001_transfers_equal_what_the_sandbox_wrote(tmp_path: Path, index: int) -> None:
    name, content = data.generate(CONFIG, 134001, index, WHEN)
    assert name.endswith(".xml" if index == 0 else ".zip")
    parsed = _parse(tmp_path, 134001, name, content)
    assert parsed.format == "pain001"
    payments, sums = parsed.tables["sepa_payments"], parsed.tables["sepa_control_sums"]
    assert payments.column_names == PAYMENT_COLUMNS
    assert sums.column_names == CONTROL_COLUMNS
    assert payments.schema.field("amount").type == pa.decimal128(18, 2)
    assert payments.schema.field("requested_execution_date").type == pa.date32()
    assert payments.schema.field("transaction_number").type == pa.int32()

    truth = data._payments(CONFIG, 134001, index)
    rows = payments.to_pylist()
    member = name.replace(".zip", ".xml")  # the zip holds <stem>.xml
    message_id = f"MSG-SANDBOX-{index:05d}"
    debtor_iban = data.iban(data.rng_for(CONFIG, 134001, index, "debtor"))
    assert parsed.records == len(rows) == len(truth) >= CONFIG.payments_per_file
    # one payment information block per execution date, oldest first
    days = sorted({p["execution"] for p in truth})
    blocks = {day: f"{message_id}-{n}" for n, day in enumerate(days, start=1)}
    for number, (row, expected) in enumerate(zip(rows, truth, strict=True), start=1):
        assert row == {
            "file_id": "F1",
            "message_id": message_id,
            "payment_information_id": blocks[expected["execution"]],
            "end_to_end_id": expected["end_to_end"],
            "amount": _euros(expected["cents"]),
            "currency": "EUR",
            "requested_execution_date": expected["execution"],
            "debtor_name": "Sandbox BV",
            "debtor_iban": debtor_iban,
            "creditor_name": expected["creditor"],
            "creditor_iban": expected["iban"],
            "creditor_bic": expected["bic"],
            "remittance_information": expected["remittance"],
            "source_member": member,
            "transaction_number": number,
        }
    assert re.fullmatch(r"NL\d\d[A-Z]{4}\d{10}", debtor_iban)

    total = sum(_euros(p["cents"]) for p in truth)
    assert [(s["level"], s["reference"]) for s in sums.to_pylist()] == [
        ("message", message_id),
        *[("payment_information", blocks[day]) for day in days],
    ]
    expected_levels = {message_id: truth} | {
        blocks[day]: [p for p in truth if p["execution"] == day] for day in days
    }
    for level in sums.to_pylist():
        assert level["file_id"] == "F1" and level["source_member"] == member
        # what the file states, exactly, against what was parsed under that level
        under = expected_levels[level["reference"]]
        assert level["number_of_transactions"] == level["parsed_transactions"] == len(under)
        assert (
            level["control_sum"] == level["parsed_amount"] == sum(_euros(p["cents"]) for p in under)
        )
    assert sum(r["amount"] for r in rows) == total


def test_pain001_09_spelling_and_an_absent_ctrl_sum(tmp_path: Path) -> None:
    """pain.001.001.09: ReqdExctnDt wraps a Dt, BIC is BICFI; CtrlSum is optional; Ustrd repeats."""
    xml = data.pain001(CONFIG, 0, WHEN)
    xml = xml.replace("pain.001.001.03", "pain.001.001.09")
    xml = re.sub(
        r"<ReqdExctnDt>([^<]*)</ReqdExctnDt>", r"<ReqdExctnDt><Dt>\1</Dt></ReqdExctnDt>", xml
    )
    xml = xml.replace("<BIC>", "<BICFI>").replace("</BIC>", "</BICFI>")
    xml = re.sub(r"<CtrlSum>[^<]*</CtrlSum>", "", xml)
    xml = xml.replace("</Ustrd></RmtInf>", "</Ustrd><Ustrd>termijn 2</Ustrd></RmtInf>", 1)
    # the second transfer carries no remittance information at all
    second = xml.index("<CdtTrfTxInf>", xml.index("<CdtTrfTxInf>") + 1)
    xml = xml[:second] + re.sub(r"<RmtInf>.*?</RmtInf>", "", xml[second:], count=1)
    parsed = _parse(tmp_path, 134001, "x_SEPA.xml", xml.encode())
    truth = data._payments(CONFIG, 134001, 0)
    rows = parsed.tables["sepa_payments"].to_pylist()
    assert [r["requested_execution_date"] for r in rows] == [p["execution"] for p in truth]
    assert [r["creditor_bic"] for r in rows] == [p["bic"] for p in truth]
    assert rows[0]["remittance_information"] == f"{truth[0]['remittance']} termijn 2"
    assert rows[1]["remittance_information"] is None
    sums = parsed.tables["sepa_control_sums"].to_pylist()
    assert len(sums) >= 2 and [s["control_sum"] for s in sums] == [None] * len(sums)
    assert sums[0]["parsed_amount"] == sum(_euros(p["cents"]) for p in truth)


def test_a_zip_of_several_documents_numbers_transfers_through_the_file(tmp_path: Path) -> None:
    first, second = data.pain001(CONFIG, 0, WHEN), data.pain001(CONFIG, 2, WHEN)
    content = _zip({"a/": None, "a/one.xml": first.encode(), "two.XML": second.encode()})
    parsed = _parse(tmp_path, 134001, "both_SEPA.zip", content)
    rows = parsed.tables["sepa_payments"].to_pylist()
    one, two = data._payments(CONFIG, 134001, 0), data._payments(CONFIG, 134001, 2)
    n, m = len(one), len(two)
    assert parsed.records == n + m
    assert [r["transaction_number"] for r in rows] == list(range(1, n + m + 1))
    assert [r["source_member"] for r in rows] == ["a/one.xml"] * n + ["two.XML"] * m
    assert [r["end_to_end_id"] for r in rows[n:]] == [p["end_to_end"] for p in two]
    sums = parsed.tables["sepa_control_sums"].to_pylist()

    def levels(member: str, transfers: list[dict]) -> list[tuple[str, str]]:
        days = {p["execution"] for p in transfers}
        return [(member, "message")] + [(member, "payment_information")] * len(days)

    assert [(s["source_member"], s["level"]) for s in sums] == levels("a/one.xml", one) + levels(
        "two.XML", two
    )
    assert all(s["parsed_transactions"] == s["number_of_transactions"] for s in sums)
    assert [s["parsed_transactions"] for s in sums if s["level"] == "message"] == [n, m]


SEPA = data.pain001(CONFIG, 0, WHEN)
PAIN008 = (
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"><CstmrDrctDbtInitn>'
    "<GrpHdr><MsgId>DD1</MsgId><NbOfTxs>1</NbOfTxs></GrpHdr></CstmrDrctDbtInitn></Document>"
)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (SEPA[: len(SEPA) // 2], "not well-formed XML"),
        (PAIN008, "holds a CstmrDrctDbtInitn, not a CstmrCdtTrfInitn"),
        (data.sandbox_download(CONFIG, 0, WHEN)[1].decode(), "root element is root"),
        ("", "not well-formed XML"),
        (re.sub(r'(Ccy="EUR">)[^<]*', r"\g<1>12.345", SEPA, count=1),
         "transfer 1 (E2E-134001-000-0000): amount '12.345' is not an amount with at most 2"),
        (re.sub(r'(Ccy="EUR">)[^<]*', r"\g<1>1.234,50", SEPA, count=1), "'1.234,50' is not"),
        (SEPA.replace(' Ccy="EUR"', "", 1), "transfer 1 (E2E-134001-000-0000): InstdAmt has no"),
        (SEPA.replace("<EndToEndId>E2E-134001-000-0003</EndToEndId>", ""),
         "transfer 4 (None): no PmtId/EndToEndId"),
        (re.sub(r"<NbOfTxs>\d+</NbOfTxs>", "<NbOfTxs>twelve</NbOfTxs>", SEPA, count=1),
         "MSG-SANDBOX-00000: NbOfTxs 'twelve' is not a count"),
        (re.sub(r"[^>]*</ReqdExctnDt>", "03-03-2026</ReqdExctnDt>", SEPA, count=1),
         "MSG-SANDBOX-00000-1: ReqdExctnDt '03-03-2026' is not an ISO date"),
        (re.sub(r"[^>]*</ReqdExctnDt>", "2026-02-30</ReqdExctnDt>", SEPA, count=1),
         "not an ISO date"),
        (re.sub(r"<CdtTrfTxInf>.*?</CdtTrfTxInf>\n", "", SEPA), "-1: no CdtTrfTxInf"),
        (re.sub(r"<GrpHdr>.*?</GrpHdr>", "", SEPA), "a PmtInf comes before the GrpHdr"),
        (re.sub(r"<PmtInf>.*</PmtInf>", "", SEPA, flags=re.S), "no PmtInf"),
    ],
    ids=[
        "truncated", "pain008", "other-document", "empty", "three-decimals", "dutch-amount",
        "no-currency", "no-end-to-end", "bad-count", "bad-date", "impossible-date",
        "no-transfers", "no-group-header", "no-payment-block",
    ],
)  # fmt: skip
def test_pain001_that_does_not_parse_names_the_reason(tmp_path: Path, xml: str, reason: str):
    error = _fails(tmp_path, 134001, "bad_SEPA.xml", xml.encode())
    assert reason in error.reason
    assert "does not parse as a SEPA credit transfer initiation" in str(error)


def test_garbage_bytes_are_not_a_payment_file(tmp_path: Path) -> None:
    error = _fails(tmp_path, 134001, "bad_SEPA.xml", bytes(range(256)) * 8)
    assert error.reason.startswith("bad_SEPA.xml: not well-formed XML")


def _corrupt_stored_zip() -> bytes:
    """A stored (uncompressed) member with one amount digit changed: still well-formed XML, but
    the CRC no longer matches, which only shows once the member is read to the end."""
    content = bytearray(_zip({"p.xml": SEPA.encode()}, zipfile.ZIP_STORED))
    at = content.index(b'Ccy="EUR">') + len(b'Ccy="EUR">')
    content[at] = ord("1") if content[at] != ord("1") else ord("2")
    return bytes(content)


def _encrypted_zip() -> bytes:
    """zipfile cannot write encrypted members; set the flag in the central directory instead."""
    content = bytearray(_zip({"p.xml": SEPA.encode()}))
    at = content.index(b"PK\x01\x02") + 8
    content[at] |= 0x1
    return bytes(content)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 not really a zip", "not a readable zip"),
        (b"", "not a readable zip"),
        (_zip({"docs/": None, "readme.txt": b"no payments"}), "no .xml file (it holds docs/, re"),
        (_zip({"p.xml": SEPA[:200].encode()}), "p.xml: not well-formed XML"),
        (_corrupt_stored_zip(), "not a readable zip (Bad CRC-32 for file 'p.xml')"),
        (_encrypted_zip(), "p.xml is encrypted"),
    ],
    ids=["not-a-zip", "empty", "no-xml", "truncated-member", "bad-crc", "encrypted"],
)
def test_zips_that_do_not_hold_payments(tmp_path: Path, content: bytes, reason: str) -> None:
    assert reason in _fails(tmp_path, 134001, "bad_SEPA.zip", content).reason


def test_a_zip_member_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pain001, "MAX_MEMBER_BYTES", 1000)
    error = _fails(tmp_path, 134001, "big_SEPA.zip", _zip({"big.xml": SEPA.encode()}))
    assert error.reason.startswith(f"big.xml unpacks to {len(SEPA.encode())} bytes, over the 1 GiB")


# CSV formats -------------------------------------------------------------------------------------


def test_journal_postings_balance_per_journal(tmp_path: Path) -> None:
    name, content = data.generate(CONFIG, 113003, 1, WHEN)
    assert name == "RPD.SANDBOX.202603020630.001"
    parsed = _parse(tmp_path, 113003, name, content)
    table = parsed.tables["journal_postings"]
    assert parsed.format == "journal_postings"
    assert table.column_names == [
        "file_id", "line_number", "journal", "line", "period", "posting_date", "account",
        "cost_centre", "description", "amount",
    ]  # fmt: skip
    assert [str(t) for t in table.schema.types] == [
        "string", "int64", "string", "int64", "string", "date32[day]", "string", "string",
        "string", "decimal128(18, 2)",
    ]  # fmt: skip
    rows = table.to_pylist()
    assert parsed.records == len(rows) == content.count(b"\r\n") - 1 >= CONFIG.journal_lines
    assert (
        [r["line_number"] for r in rows]
        == [r["line"] for r in rows]
        == list(range(1, len(rows) + 1))
    )
    balances = table.group_by("journal").aggregate([("amount", "sum"), ("amount", "count")])
    assert balances.num_rows > 1
    assert set(balances.column("amount_sum").to_pylist()) == {Decimal("0.00")}
    assert {r["posting_date"] for r in rows} == {WHEN.date()}
    assert {r["period"] for r in rows} == {"202603"}
    assert all(r["amount"] != 0 for r in rows)


@pytest.mark.parametrize("index", [0, 1, 3])
def test_employee_mutations_in_file_order(tmp_path: Path, index: int) -> None:
    name, content = data.generate(CONFIG, 101100, index, WHEN)
    parsed = _parse(tmp_path, 101100, name, content)
    table = parsed.tables["employee_mutations"]
    assert table.column_names == [
        "file_id", "line_number", "mutation_id", "employee_id", "field", "old_value",
        "new_value", "effective_date",
    ]  # fmt: skip
    before = data.employee_departments(CONFIG, index)
    expected = data._mutations(CONFIG, index, before)
    rows = table.to_pylist()
    assert [(r["employee_id"], r["old_value"], r["new_value"]) for r in rows] == expected
    assert [r["mutation_id"] for r in rows] == [f"M{index:04d}{n:02d}" for n in range(6)]
    assert {(r["field"], r["effective_date"]) for r in rows} == {("department", WHEN.date())}
    assert parsed.records == 6


@pytest.mark.parametrize("index", [0, 2])
def test_rst_functie_is_the_complete_list(tmp_path: Path, index: int) -> None:
    name, content = data.generate(CONFIG, 101002, index, WHEN)
    parsed = _parse(tmp_path, 101002, name, content)
    rows = parsed.tables["rst_functie"].to_pylist()
    assert parsed.records == len(rows) == 10 + 2 * index
    assert [r["function_code"] for r in rows] == [f"F{c:04d}" for c in range(len(rows))]
    assert {r["valid_from"] for r in rows} == {CONFIG.start.date()}
    assert ("(rev 2)" in rows[0]["function_name"]) == (index == 2)
    assert parsed.tables["rst_functie"].column_names == [
        "file_id", "line_number", "function_code", "function_name", "valid_from",
    ]  # fmt: skip


def test_sepa_csv_payments_equal_what_the_sandbox_wrote(tmp_path: Path) -> None:
    name, content = data.generate(CONFIG, 134000, 1, WHEN)
    parsed = _parse(tmp_path, 134000, name, content)
    table = parsed.tables["sepa_csv_payments"]
    assert table.column_names == [
        "file_id", "line_number", "batch_id", "end_to_end_id", "creditor_name", "creditor_iban",
        "creditor_bic", "amount", "currency", "execution_date", "remittance_information",
    ]  # fmt: skip
    truth = data._payments(CONFIG, 134000, 1)
    assert [
        (r["end_to_end_id"], r["creditor_name"], r["creditor_iban"], r["creditor_bic"],
         r["amount"], r["remittance_information"])
        for r in table.to_pylist()
    ] == [
        (p["end_to_end"], p["creditor"], p["iban"], p["bic"], _euros(p["cents"]), p["remittance"])
        for p in truth
    ]  # fmt: skip
    assert set(table.column("batch_id").to_pylist()) == {"B00001"}
    assert table.column("execution_date").to_pylist() == [p["execution"] for p in truth]
    assert set(table.column("currency").to_pylist()) == {"EUR"}


def test_amounts_are_exact_and_empty_text_is_null(tmp_path: Path) -> None:
    content = JOURNAL + b"".join(
        f"J1;{n};202403;2024-03-01;4000;;;{amount}\n".encode()
        for n, amount in enumerate(["1234.50", "-12.3", "12", " 0.07 ", "-1234.27"], start=1)
    )
    rows = _parse(tmp_path, 113003, "RPD.X.1.1", content).tables["journal_postings"].to_pylist()
    assert [r["amount"] for r in rows] == [
        Decimal("1234.50"), Decimal("-12.30"), Decimal("12.00"), Decimal("0.07"),
        Decimal("-1234.27"),
    ]  # fmt: skip
    assert sum(r["amount"] for r in rows) == Decimal("0.00")
    assert {(r["cost_centre"], r["description"]) for r in rows} == {(None, None)}


def test_header_matching_is_forgiving(tmp_path: Path) -> None:
    """BOM, `,` without `;` in the header, any case and spacing, any order, extra columns, LF."""
    content = (
        b'\xef\xbb\xbf Effective_Date ,FIELD,new_value,"Employee_ID",old_value,mutation_id,extra\n'
        b"2024-03-01,department,HR,E00001,,M1,ignored\n"
        b"2024-03-02,department,ICT,E00001,HR,M2,\n"
    )
    parsed = _parse(tmp_path, 101100, "mutations.csv", content)
    table = parsed.tables["employee_mutations"]
    assert "extra" not in table.column_names
    assert table.to_pylist() == [
        {"file_id": "F1", "line_number": 1, "mutation_id": "M1", "employee_id": "E00001",
         "field": "department", "old_value": None, "new_value": "HR",
         "effective_date": date(2024, 3, 1)},
        {"file_id": "F1", "line_number": 2, "mutation_id": "M2", "employee_id": "E00001",
         "field": "department", "old_value": "HR", "new_value": "ICT",
         "effective_date": date(2024, 3, 2)},
    ]  # fmt: skip


@pytest.mark.parametrize("content", [JOURNAL, JOURNAL.rstrip(), b"\xef\xbb\xbf" + JOURNAL])
def test_a_header_only_file_is_valid_and_empty(tmp_path: Path, content: bytes) -> None:
    parsed = _parse(tmp_path, 113003, "RPD.X.2.1", content)
    table = parsed.tables["journal_postings"]
    assert parsed.records == table.num_rows == 0
    assert table.schema.field("amount").type == pa.decimal128(18, 2)
    assert table.schema.field("posting_date").type == pa.date32()


def _journal(*lines: str) -> bytes:
    return JOURNAL + "".join(f"{line}\r\n" for line in lines).encode("utf-8")


OK_LINE = "J1;1;202403;2024-03-01;4000;CC1;x;1.00"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (_journal("J1;1;202403;2024-03-01;4000;CC1;x;12.345"),
         "line 1: amount is not an amount with at most 2 decimals, like 1234.50 (found '12.345')"),
        (_journal(OK_LINE, "J1;2;202403;2024-03-01;4000;CC1;x;abc"), "line 2: amount is not an"),
        (_journal(OK_LINE, OK_LINE, "J1;3;202403;2024-03-01;4000;CC1;x;1.234,50"), "line 3: amo"),
        (_journal("J1;1;202403;25-03-2024;4000;CC1;x;1.00"),
         "line 1: posting_date is not an ISO date (YYYY-MM-DD) (found '25-03-2024')"),
        (_journal(OK_LINE, "J1;2;202403;2024-02-30;4000;CC1;x;1.00"), "line 2: posting_date is"),
        (_journal("J1;one;202403;2024-03-01;4000;CC1;x;1.00"), "line 1: line is not a whole nu"),
        (_journal(OK_LINE, "J1;2;202403;2024-03-01;4000;CC1;x;"), "line 2: amount is empty"),
        (_journal(OK_LINE, "J1;2;202403;2024-03-01;4000;CC1"), "line 2: 6 fields where the hea"),
        (b"journal;line\r\nJ1;1\r\n", "missing column(s) period, posting_date, account, cost_c"),
        (JOURNAL.replace(b"cost_centre", b"Account"), "the header names column account twice"),
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n", "the file is empty"),
        (bytes(range(128, 256)) * 4, "the header has bytes that are not UTF-8 text"),
        (_journal(OK_LINE, "J1;2;202403;2024-03-01;4000;CC1;caf\xe9;1.00").replace(
            "café".encode(), b"caf\xe9"), "line 2 has bytes that are not UTF-8 text"),
        (_journal(OK_LINE) + b"\x00\x00\x00", "line 2 has a NUL byte"),
    ],
    ids=[
        "three-decimals", "not-a-number", "dutch-amount", "dd-mm-yyyy", "impossible-date",
        "int", "no-amount", "ragged", "missing-columns", "duplicate-column", "empty", "bom-only",
        "binary", "latin-1", "nul",
    ],
)  # fmt: skip
def test_csv_that_does_not_parse_names_line_and_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    error = _fails(tmp_path, 113003, "RPD.X.1.1", content)
    assert reason in error.reason
    assert "does not parse as payroll journal postings" in str(error)


def test_a_mutation_without_its_key_is_refused(tmp_path: Path) -> None:
    content = b"mutation_id;employee_id;field;old_value;new_value;effective_date\nM1;;dep;a;b;\n"
    error = _fails(tmp_path, 101100, "m.csv", content)
    assert error.reason == "line 1: employee_id is empty"


# Dispatch and the warehouse --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("business_type", "name", "expected"),
    [
        (134001, "20240301_000_SEPA.xml", "pain001"),
        (134001, "20240301_001_SEPA.ZIP", "pain001"),
        (134001, "readme.txt", None),
        (134000, "20240301_000_SEPA.csv", "sepa_csv"),
        (134000, "20240301_000_SEPA.xml", None),
        (113003, "RPD.SANDBOX.202403010600.001", "journal_postings"),
        (101002, "RST_Functie_202403010600.csv", "rst_functie"),
        (101100, "BintHarmony_202403010600_000.csv", "employee_mutations"),
        (7101, "sandbox_test_file_002.csv", None),
        (7100, "upload.xml", None),
        (None, "x_SEPA.xml", None),
    ],
)
def test_format_for(business_type: int | None, name: str, expected: str | None) -> None:
    assert format_for(business_type, name) == expected
    assert expected is None or expected in FORMATS


def test_a_file_of_no_known_format_is_not_parsed(tmp_path: Path) -> None:
    name, content = data.generate(CONFIG, 7101, 0, WHEN)
    (tmp_path / name).write_bytes(content)
    assert parse_file(tmp_path / name, file_id="F1", file_name=name, business_type_id=7101) is None


def test_the_error_is_a_visma_error_naming_vendor_file_and_reason() -> None:
    error = VismaFormatError("a.csv", 134000, "line 3: amount is empty")
    assert isinstance(error, VismaError)
    assert str(error) == (
        "Visma file a.csv (business type 134000) does not parse as a SEPA payment list "
        "(;-separated CSV): line 3: amount is empty"
    )


@pytest.mark.parametrize("business_type", [134001, 134000, 113003, 101002, 101100])
def test_tables_land_in_duckdb_with_exact_types(tmp_path: Path, business_type: int) -> None:
    name, content = data.generate(CONFIG, business_type, 1, WHEN)
    parsed = _parse(tmp_path, business_type, name, content)
    con = duckdb.connect()
    for table_name, table in parsed.tables.items():
        # as the loader does: the table is created from the first file's Arrow schema
        con.register("parsed", table)
        con.execute(f"CREATE TABLE {table_name} AS SELECT * FROM parsed")
        con.unregister("parsed")
        described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table_name})")
        types = dict(described.fetchall())
        assert next(iter(types.items())) == ("file_id", "VARCHAR")
        assert {t for c, t in types.items() if "amount" in c or c == "control_sum"} <= {
            "DECIMAL(18,2)"
        }
        assert {t for c, t in types.items() if c.endswith("date") or c == "valid_from"} <= {"DATE"}
        assert con.execute(f"SELECT count(*) FROM {table_name}").fetchall() == [(table.num_rows,)]
