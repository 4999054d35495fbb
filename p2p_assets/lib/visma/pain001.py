"""SEPA credit transfer initiations (ISO 20022 pain.001) into Arrow: one row per transfer, and the
control sums the file states about itself (NbOfTxs, CtrlSum) per message and payment block.

The XML is streamed with `iterparse`: each transfer and each payment block is removed from the tree
as soon as it is read, so a large file costs the size of its columns, not of its tree. Elements
are matched by local name, so any pain.001.001.xx namespace reads the same, but the document must
be a CstmrCdtTrfInitn (a pain.008 direct debit also has GrpHdr and PmtInf, and must not pass).
Totals are not compared here: that is an asset check on what the warehouse stored. Amounts are
exact; an amount with more than 2 decimals fails the file rather than being rounded. Entity
expansion is bounded by expat (>= 2.4 refuses "billion laughs" documents).
"""

import re
import zipfile
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError, iterparse

import pyarrow as pa

AMOUNT = pa.decimal128(18, 2)
MAX_MEMBER_BYTES = 1 << 30
_AMOUNT = re.compile(r"[0-9]{1,16}(\.[0-9]{1,2})?")
_COUNT = re.compile(r"[0-9]{1,15}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

PAYMENTS = pa.schema(
    [
        ("file_id", pa.string()), ("message_id", pa.string()),
        ("payment_information_id", pa.string()), ("end_to_end_id", pa.string()),
        ("amount", AMOUNT), ("currency", pa.string()), ("requested_execution_date", pa.date32()),
        ("debtor_name", pa.string()), ("debtor_iban", pa.string()),
        ("creditor_name", pa.string()), ("creditor_iban", pa.string()),
        ("creditor_bic", pa.string()), ("remittance_information", pa.string()),
        ("source_member", pa.string()), ("transaction_number", pa.int32()),
    ]
)  # fmt: skip
CONTROL_SUMS = pa.schema(
    [
        ("file_id", pa.string()), ("source_member", pa.string()), ("level", pa.string()),
        ("reference", pa.string()), ("number_of_transactions", pa.int64()),
        ("control_sum", AMOUNT), ("parsed_transactions", pa.int64()), ("parsed_amount", AMOUNT),
    ]
)  # fmt: skip
# Columns that belong to the payment block, filled for its transfers when the block ends.
_BLOCK_COLUMNS = (
    "message_id", "payment_information_id", "requested_execution_date", "debtor_name",
    "debtor_iban",
)  # fmt: skip


class Unparseable(ValueError):
    """The bytes do not parse as the format promised; the message is the reason only, and
    `formats.parse_file` turns it into a `VismaFormatError` naming the file and business type."""


def read_pain001(path: Path, *, file_id: str, file_name: str) -> dict[str, pa.Table]:
    """`sepa_payments` and `sepa_control_sums` of a `*_SEPA.xml`, or of every XML in a `.zip`.

    `transaction_number` runs on across the members of a zip, so it is unique within the file.
    """
    out = _Columns(file_id)
    if not file_name.lower().endswith(".zip"):
        with path.open("rb") as handle:
            _parse(handle, file_name, out)
        return out.tables()
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m for m in archive.infolist()
                if not m.is_dir() and m.filename.lower().endswith(".xml")
                and not m.filename.startswith("__MACOSX/")  # macOS resource forks, not XML
            ]  # fmt: skip
            if not members:
                names = ", ".join(m.filename for m in archive.infolist()) or "nothing"
                raise Unparseable(f"the zip holds no .xml file (it holds {names})")
            for member in members:
                if member.flag_bits & 0x1:
                    raise Unparseable(f"{member.filename} is encrypted")
                # zipfile stops at the declared size and checks the CRC, so a lying header fails.
                if member.file_size > MAX_MEMBER_BYTES:
                    raise Unparseable(
                        f"{member.filename} unpacks to {member.file_size} bytes, over the 1 GiB "
                        "a payment file can sensibly be"
                    )
                with archive.open(member) as handle:
                    _parse(handle, member.filename, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise Unparseable(f"not a readable zip ({str(exc) or type(exc).__name__})") from None
    except NotImplementedError as exc:  # a compression method zipfile does not know
        raise Unparseable(f"the zip cannot be unpacked ({exc})") from None
    return out.tables()


class _Columns:
    """Both tables as column lists, built up member by member, transfer by transfer."""

    def __init__(self, file_id: str) -> None:
        self.file_id = file_id
        self.payments: dict[str, list] = {name: [] for name in PAYMENTS.names}
        self.sums: dict[str, list] = {name: [] for name in CONTROL_SUMS.names}

    def control(self, member: str, level: str, reference: str, element: Element) -> int:
        """Append the level's stated figures (parsed ones are set later); returns its row."""
        stated = _text(element, "NbOfTxs")
        if stated is None or not _COUNT.fullmatch(stated):
            raise Unparseable(f"{member}: {reference}: NbOfTxs {stated!r} is not a count")
        ctrl = _text(element, "CtrlSum")
        control_sum = None if ctrl is None else _amount(ctrl, f"{member}: {reference}: CtrlSum")
        row = (self.file_id, member, level, reference, int(stated), control_sum, 0, Decimal(0))
        for name, value in zip(CONTROL_SUMS.names, row, strict=True):
            self.sums[name].append(value)
        return len(self.sums["level"]) - 1

    def parsed(self, row: int, count: int, total: Decimal) -> None:
        self.sums["parsed_transactions"][row] = count
        self.sums["parsed_amount"][row] = total

    def tables(self) -> dict[str, pa.Table]:
        return {
            "sepa_payments": pa.Table.from_pydict(self.payments, schema=PAYMENTS),
            "sepa_control_sums": pa.Table.from_pydict(self.sums, schema=CONTROL_SUMS),
        }


def _parse(handle: IO[bytes], member: str, out: _Columns) -> None:
    """Stream one XML document into `out`; `member` names it in rows and in errors."""
    stack: list[Element] = []  # the open elements, so finished ones can be cut from their parent
    message_id: str | None = None
    message_row = block_start = 0
    block_rows: list[int] = []
    try:
        for event, element in iterparse(handle, events=("start", "end")):
            if event == "start":
                stack.append(element)
                if len(stack) > 3:  # inside a transfer or block: read when that one ends
                    continue
                name = _local(element)
                if len(stack) == 1 and name != "Document":
                    raise Unparseable(f"{member}: the root element is {name}, not Document")
                if len(stack) == 2 and name != "CstmrCdtTrfInitn":
                    raise Unparseable(f"{member}: holds a {name}, not a CstmrCdtTrfInitn")
                if len(stack) == 3 and name == "PmtInf":
                    block_start = len(out.payments["file_id"])
                continue
            stack.pop()
            depth = len(stack) + 1
            if depth > 4:
                continue
            name = _local(element)
            if depth == 3 and name == "GrpHdr":
                if message_id is not None:
                    raise Unparseable(f"{member}: more than one GrpHdr")
                message_id = _text(element, "MsgId")
                if message_id is None:
                    raise Unparseable(f"{member}: GrpHdr has no MsgId")
                message_row = out.control(member, "message", message_id, element)
            elif depth == 4 and name == "CdtTrfTxInf" and _local(stack[-1]) == "PmtInf":
                _transfer(element, member, out)
                stack[-1].remove(element)  # read: drop it, so memory stays flat
            elif depth == 3 and name == "PmtInf":
                if message_id is None:
                    raise Unparseable(f"{member}: a PmtInf comes before the GrpHdr")
                block_rows.append(_block(element, member, message_id, block_start, out))
            if depth == 3:
                stack[-1].remove(element)
    except ParseError as exc:
        raise Unparseable(f"{member}: not well-formed XML ({exc})") from None
    if message_id is None:
        raise Unparseable(f"{member}: no GrpHdr with a MsgId")
    if not block_rows:
        raise Unparseable(f"{member}: no PmtInf (payment information block)")
    out.parsed(
        message_row,
        sum(out.sums["parsed_transactions"][i] for i in block_rows),
        sum((out.sums["parsed_amount"][i] for i in block_rows), Decimal(0)),
    )


def _transfer(tx: Element, member: str, out: _Columns) -> None:
    """One CdtTrfTxInf: the transfer's own columns (the block's come when the block ends)."""
    number = len(out.payments["file_id"]) + 1
    end_to_end = _text(tx, "PmtId", "EndToEndId")
    what = f"{member}: transfer {number} ({end_to_end})"
    if end_to_end is None:
        raise Unparseable(f"{what}: no PmtId/EndToEndId")
    instructed = _find(tx, "Amt", "InstdAmt")
    if instructed is None:
        raise Unparseable(f"{what}: no Amt/InstdAmt")
    currency = (instructed.get("Ccy") or "").strip() or None
    if currency is None:
        raise Unparseable(f"{what}: InstdAmt has no Ccy")
    remittance = _find(tx, "RmtInf")
    unstructured = [] if remittance is None else _texts(remittance, "Ustrd")
    values = {
        "file_id": out.file_id,
        "end_to_end_id": end_to_end,
        "amount": _amount((instructed.text or "").strip(), f"{what}: amount"),
        "currency": currency,
        "creditor_name": _text(tx, "Cdtr", "Nm"),
        "creditor_iban": _text(tx, "CdtrAcct", "Id", "IBAN"),
        # BIC in pain.001.001.03, BICFI from .001.04 on
        "creditor_bic": _text(tx, "CdtrAgt", "FinInstnId", "BIC")
        or _text(tx, "CdtrAgt", "FinInstnId", "BICFI"),
        "remittance_information": " ".join(unstructured) or None,
        "source_member": member,
        "transaction_number": number,
    }
    for name, value in values.items():
        out.payments[name].append(value)


def _block(block: Element, member: str, message_id: str, start: int, out: _Columns) -> int:
    """A finished PmtInf: its control row (returned), and its columns for the transfers read
    inside it."""
    block_id = _text(block, "PmtInfId")
    if block_id is None:
        raise Unparseable(f"{member}: a PmtInf has no PmtInfId")
    row = out.control(member, "payment_information", block_id, block)
    count = len(out.payments["file_id"]) - start
    if not count:
        raise Unparseable(f"{member}: {block_id}: no CdtTrfTxInf")
    # .03 has <ReqdExctnDt>2024-03-01</ReqdExctnDt>; .09 wraps it in <Dt> (or <DtTm>).
    stated = (
        _text(block, "ReqdExctnDt")
        or _text(block, "ReqdExctnDt", "Dt")
        or (_text(block, "ReqdExctnDt", "DtTm") or "")[:10]
    )
    values = (message_id, block_id, _date(stated, f"{member}: {block_id}: ReqdExctnDt"),
              _text(block, "Dbtr", "Nm"), _text(block, "DbtrAcct", "Id", "IBAN"))  # fmt: skip
    for name, value in zip(_BLOCK_COLUMNS, values, strict=True):
        out.payments[name].extend([value] * count)
    out.parsed(row, count, sum(out.payments["amount"][start:], Decimal(0)))
    return row


def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _find(element: Element, *path: str) -> Element | None:
    """The first descendant along `path`, matching local names (any namespace)."""
    current: Element | None = element
    for name in path:
        if current is None:
            return None
        current = next((c for c in current if _local(c) == name), None)
    return current


def _text(element: Element, *path: str) -> str | None:
    found = _find(element, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _texts(element: Element, name: str) -> list[str]:
    """The non-empty texts of every child called `name` (Ustrd may repeat)."""
    return [c.text.strip() for c in element if _local(c) == name and c.text and c.text.strip()]


def _amount(text: str, what: str) -> Decimal:
    if not _AMOUNT.fullmatch(text):
        raise Unparseable(f"{what} {text!r} is not an amount with at most 2 decimals")
    return Decimal(text)


def _date(text: str | None, what: str) -> date:
    try:
        if text and _DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise Unparseable(f"{what} {text!r} is not an ISO date (YYYY-MM-DD)")
