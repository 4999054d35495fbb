"""SEPA credit transfer initiations (ISO 20022 pain.001) into Arrow: one row per transfer, and the
control sums the file states about itself (NbOfTxs, CtrlSum) per message and payment block.

The XML is streamed with `iterparse` and elements are cleared as they are read, so a large file
costs the size of its columns, not of its tree. Elements are matched by local name, so any
pain.001.001.xx namespace reads the same; totals are not compared here (that is an asset check on
what the warehouse stored). Amounts are exact: more than 2 decimals fails the file.
"""

import re
import zipfile
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError, iterparse

import pyarrow as pa

from p2p_assets.lib.visma.formats import AMOUNT, ParsedFile, VismaFormatError

MAX_MEMBER_BYTES = 1 << 30
_AMOUNT = re.compile(r"^\d{1,16}(\.\d{1,2})?$")
PAYMENT_COLUMNS = {
    "file_id": pa.string(), "message_id": pa.string(), "payment_information_id": pa.string(),
    "end_to_end_id": pa.string(), "amount": AMOUNT, "currency": pa.string(),
    "requested_execution_date": pa.date32(), "debtor_name": pa.string(),
    "debtor_iban": pa.string(), "creditor_name": pa.string(), "creditor_iban": pa.string(),
    "creditor_bic": pa.string(), "remittance_information": pa.string(),
    "source_member": pa.string(), "transaction_number": pa.int32(),
}  # fmt: skip
CONTROL_COLUMNS = {
    "file_id": pa.string(), "source_member": pa.string(), "level": pa.string(),
    "reference": pa.string(), "number_of_transactions": pa.int64(), "control_sum": AMOUNT,
    "parsed_transactions": pa.int64(), "parsed_amount": AMOUNT,
}  # fmt: skip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: Element, *path: str) -> Element | None:
    current: Element | None = element
    for name in path:
        if current is None:
            return None
        current = next((c for c in current if _local(c.tag) == name), None)
    return current


def _text(element: Element, *path: str) -> str | None:
    found = _find(element, *path)
    text = found.text.strip() if found is not None and found.text else None
    return text or None


def parse_pain001(
    path: Path, *, file_id: str, file_name: str, fail: Callable[[str], VismaFormatError]
) -> ParsedFile:
    payments: dict[str, list] = {name: [] for name in PAYMENT_COLUMNS}
    controls: dict[str, list] = {name: [] for name in CONTROL_COLUMNS}
    if file_name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [
                    m for m in archive.infolist()
                    if not m.is_dir() and m.filename.lower().endswith(".xml")
                ]  # fmt: skip
                if not members:
                    raise fail("the zip holds no .xml file")
                for member in members:
                    if member.file_size > MAX_MEMBER_BYTES:
                        raise fail(f"{member.filename} unpacks to {member.file_size} bytes")
                    with archive.open(member) as handle:
                        _parse(handle, member.filename, file_id, fail, payments, controls)
        except zipfile.BadZipFile as exc:
            raise fail(f"not a readable zip ({exc})") from None
    else:
        with path.open("rb") as handle:
            _parse(handle, file_name, file_id, fail, payments, controls)
    table = pa.table({n: pa.array(payments[n], t) for n, t in PAYMENT_COLUMNS.items()})
    sums = pa.table({n: pa.array(controls[n], t) for n, t in CONTROL_COLUMNS.items()})
    return ParsedFile("pain001", {"sepa_payments": table, "sepa_control_sums": sums}, len(table))


def _parse(handle: IO[bytes], member: str, file_id: str, fail, payments, controls) -> None:
    def bad(reason: str) -> VismaFormatError:
        return fail(f"{member}: {reason}")

    message_id: str | None = None
    seen_root = False
    number = 0
    try:
        for event, element in iterparse(handle, events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                if not seen_root:
                    seen_root = True
                    if name != "Document":
                        raise bad(f"the root element is {name}, not Document")
                continue
            if name == "GrpHdr":
                message_id = _text(element, "MsgId")
                if message_id is None:
                    raise bad("GrpHdr has no MsgId")
                _control(controls, file_id, member, "message", message_id, element, bad)
                element.clear()
            elif name == "PmtInf":
                if message_id is None:
                    raise bad("PmtInf before GrpHdr, or not a CstmrCdtTrfInitn")
                number = _payment_block(
                    element, file_id, member, message_id, number, bad, payments, controls
                )
                element.clear()
    except ParseError as exc:
        raise bad(f"not well-formed XML ({exc})") from None
    if message_id is None:
        raise bad("no CstmrCdtTrfInitn group header (GrpHdr/MsgId) found")
    # The message level's parsed figures are the sums over its payment blocks.
    rows = [i for i, m in enumerate(controls["source_member"]) if m == member]
    blocks = [i for i in rows if controls["level"][i] == "payment_information"]
    header = next(i for i in rows if controls["level"][i] == "message")
    controls["parsed_transactions"][header] = sum(
        controls["parsed_transactions"][i] for i in blocks
    )
    controls["parsed_amount"][header] = sum(
        (controls["parsed_amount"][i] for i in blocks), Decimal("0.00")
    )


def _amount(text: str | None, what: str, bad) -> Decimal:
    if text is None or not _AMOUNT.match(text):
        raise bad(f"{what} {text!r} is not an amount with at most 2 decimals")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise bad(f"{what} {text!r} is not an amount") from None


def _control(controls, file_id, member, level, reference, element, bad) -> None:
    stated = _text(element, "NbOfTxs")
    if stated is None or not stated.isdigit():
        raise bad(f"{level} {reference}: NbOfTxs {stated!r} is not a number")
    ctrl = _text(element, "CtrlSum")
    values = [
        file_id, member, level, reference, int(stated),
        _amount(ctrl, f"{reference} CtrlSum", bad) if ctrl is not None else None, 0,
        Decimal("0.00"),
    ]  # fmt: skip
    for name, value in zip(CONTROL_COLUMNS, values, strict=True):
        controls[name].append(value)


def _payment_block(block, file_id, member, message_id, number, bad, payments, controls) -> int:
    block_id = _text(block, "PmtInfId")
    if block_id is None:
        raise bad("a PmtInf has no PmtInfId")
    _control(controls, file_id, member, "payment_information", block_id, block, bad)
    execution = _text(block, "ReqdExctnDt") or _text(block, "ReqdExctnDt", "Dt")
    if execution is None or not re.match(r"^\d{4}-\d{2}-\d{2}$", execution):
        raise bad(f"{block_id}: ReqdExctnDt {execution!r} is not an ISO date")
    debtor = (_text(block, "Dbtr", "Nm"), _text(block, "DbtrAcct", "Id", "IBAN"))
    count, total = 0, Decimal("0.00")
    for tx in (c for c in block if _local(c.tag) == "CdtTrfTxInf"):
        number += 1
        end_to_end = _text(tx, "PmtId", "EndToEndId")
        amount_element = _find(tx, "Amt", "InstdAmt")
        if amount_element is None:
            raise bad(f"transfer {number} ({end_to_end}) has no Amt/InstdAmt")
        amount = _amount(
            (amount_element.text or "").strip(), f"transfer {number} ({end_to_end}) amount", bad
        )
        bic = _text(tx, "CdtrAgt", "FinInstnId", "BIC") or _text(
            tx, "CdtrAgt", "FinInstnId", "BICFI"
        )
        remittance = " ".join(
            (u.text or "").strip()
            for u in (_find(tx, "RmtInf") or [])
            if _local(u.tag) == "Ustrd" and u.text
        )
        row = [
            file_id, message_id, block_id, end_to_end, amount,
            amount_element.get("Ccy"), _date(execution), debtor[0], debtor[1],
            _text(tx, "Cdtr", "Nm"), _text(tx, "CdtrAcct", "Id", "IBAN"), bic,
            remittance or None, member, number,
        ]  # fmt: skip
        for name, value in zip(PAYMENT_COLUMNS, row, strict=True):
            payments[name].append(value)
        count, total = count + 1, total + amount
    controls["parsed_transactions"][-1] = count
    controls["parsed_amount"][-1] = total
    return number


def _date(text: str):
    from datetime import date

    return date.fromisoformat(text)
