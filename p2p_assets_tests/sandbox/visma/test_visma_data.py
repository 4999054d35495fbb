"""Generated files: SEPA control sums, balanced journals, mutation chains, determinism."""

import csv
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets.sandbox.visma.data import PAIN_NS, employee_departments

NS = {"p": PAIN_NS}


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode()), delimiter=";"))


def _iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def test_sepa_payment_files_have_consistent_control_sums(sandbox: VismaSandbox):
    files = [f for f in sandbox.files() if f["business_type"] == 134001]
    assert {f["name"].rsplit(".", 1)[1] for f in files} == {"xml", "zip"}
    for row in files:
        content = sandbox.file_bytes(row["id"])
        if row["name"].endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                (member,) = archive.namelist()
                assert member.endswith("_SEPA.xml")
                content = archive.read(member)
        root = ElementTree.fromstring(content)
        amounts = [Decimal(a.text) for a in root.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)]
        header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
        assert int(header.find("p:NbOfTxs", NS).text) == len(amounts)
        assert Decimal(header.find("p:CtrlSum", NS).text) == sum(amounts)
        blocks = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
        days = [block.find("p:ReqdExctnDt", NS).text for block in blocks]
        assert blocks and days == sorted(set(days))  # one block per execution date
        for block in blocks:
            mine = [Decimal(a.text) for a in block.iterfind("p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)]
            assert int(block.find("p:NbOfTxs", NS).text) == len(mine) > 0
            assert Decimal(block.find("p:CtrlSum", NS).text) == sum(mine)
        assert all(_iban_valid(i.text) for i in root.iterfind(".//p:IBAN", NS))


def test_sepa_csv_and_journal_files(sandbox: VismaSandbox):
    for row in sandbox.files():
        if row["business_type"] == 134000:
            assert row["name"].endswith("_SEPA.csv")
            lines = _rows(sandbox.file_bytes(row["id"]))
            assert all(_iban_valid(line["creditor_iban"]) for line in lines)
        if row["business_type"] == 113003:
            assert row["name"].startswith("RPD.SANDBOX.")
            lines = _rows(sandbox.file_bytes(row["id"]))
            journals: dict[str, Decimal] = {}
            for line in lines:
                amount = Decimal(line["amount"])
                assert amount == amount.quantize(Decimal("0.01"))
                journals[line["journal"]] = journals.get(line["journal"], Decimal(0)) + amount
            assert all(total == 0 for total in journals.values())
            assert {line["period"] for line in lines} == {"202403"}


def test_mutations_chain_oldest_first(sandbox: VismaSandbox):
    files = sorted(
        (f for f in sandbox.files() if f["business_type"] == 101100), key=lambda f: f["seq"]
    )
    state = employee_departments(sandbox.config, 0)
    for row in files:
        for mutation in _rows(sandbox.file_bytes(row["id"])):
            assert state[mutation["employee_id"]] == mutation["old_value"]
            state[mutation["employee_id"]] = mutation["new_value"]
    assert state == employee_departments(sandbox.config, len(files))


def test_same_seed_same_files(tmp_path: Path):
    config = VismaSandboxConfig(seed=3)
    one, two = VismaSandbox(config, tmp_path / "a"), VismaSandbox(config, tmp_path / "b")
    other = VismaSandbox(VismaSandboxConfig(seed=4), tmp_path / "c")

    def snapshot(sandbox: VismaSandbox):
        return [
            (f["id"], f["name"], f["upload_date"], sandbox.file_bytes(f["id"]))
            for f in sandbox.files()
        ]

    assert snapshot(one) == snapshot(two)
    assert snapshot(one) != snapshot(other)
