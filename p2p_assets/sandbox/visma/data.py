"""Deterministic file contents per business type: `generate(config, business_type, index, when)`
gives the n-th delivered file's (name, bytes); `write_large_file` streams a big file to disk.

Amounts are exact decimals computed in integer cents; SEPA messages carry NbOfTxs and CtrlSum that
match their transactions, and IBANs carry valid ISO 13616 check digits. The SEPA transfers pay the
linked Basware sandbox's invoices (`payments.py`) and the payroll journals book on its cost
centres.
"""

import csv
import hashlib
import io
import random
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from p2p_assets.sandbox.visma import payments
from p2p_assets.sandbox.visma.config import VismaSandboxConfig

PAIN_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
ACCOUNTS = ("4000", "4100", "4200", "4510", "4600", "6100", "7000", "8000")
COST_CENTRES = ("CC100", "CC200", "CC310", "CC420", "CC500")
FUNCTIONS = ("Medewerker", "Teamleider", "Adviseur", "Controller", "Coordinator", "Specialist")
DEPARTMENTS = ("Finance", "HR", "Inkoop", "Logistiek", "ICT", "Facilitair")


def rng_for(config: VismaSandboxConfig, *key: object) -> random.Random:
    digest = hashlib.blake2b(repr((config.seed, *key)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def iban(rng: random.Random) -> str:
    bank = rng.choice(("INGB", "RABO", "ABNA", "SNSB", "TRIO"))
    account = f"{rng.randrange(10**9, 10**10)}"
    digits = "".join(str(int(c, 36)) for c in bank + account + "NL00")
    return f"NL{98 - int(digits) % 97:02d}{bank}{account}"


def _cents(value: int) -> str:
    return str(Decimal(value).scaleb(-2))


def _csv(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def sandbox_download(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    kind = ("xml", "txt", "csv")[index % 3]
    name = f"sandbox_test_file_{index:03d}.{kind}"
    if kind == "xml":
        body = "<root>\n<company>Visma Raet</company>\n<product>File API</product>\n"
        return name, f"{body}<content>Sample File {index}</content>\n</root>\n".encode()
    if kind == "txt":
        return name, f"This is sandbox test file {index}\n".encode()
    rng = rng_for(config, 7101, index)
    return name, _csv([["id", "value"], *[[i, rng.randrange(1000)] for i in range(5)]])


def journal_postings(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    """A payroll journal export: balanced journals (each sums to zero) of lines per account, on
    the cost centres the linked Basware tenant's coding rows use (the balancing line too)."""
    rng = rng_for(config, 113003, index)
    cost_centres = payments.cost_centres(config)
    period = f"{when.year}{when.month:02d}"
    rows: list[list[object]] = [
        [
            "journal",
            "line",
            "period",
            "posting_date",
            "account",
            "cost_centre",
            "description",
            "amount",
        ]
    ]
    line = 0
    while line < config.journal_lines:
        journal = f"JP{index:04d}{line:04d}"
        amounts = [rng.randrange(1_000, 500_000) for _ in range(rng.randrange(1, 4))]
        entries = [(a, rng.choice(ACCOUNTS[:-1])) for a in amounts] + [(-sum(amounts), "8000")]
        for amount, account in entries:
            line += 1
            rows.append(
                [
                    journal,
                    line,
                    period,
                    when.date().isoformat(),
                    account,
                    rng.choice(cost_centres),
                    f"Salarisjournaal {period}",
                    _cents(amount),
                ]
            )
    stamp = when.strftime("%Y%m%d%H%M")
    return f"RPD.{config.tenant_id.upper()}.{stamp}.{index:03d}", _csv(rows)


def _payments(config: VismaSandboxConfig, business_type: int, index: int) -> list[dict]:
    return payments.transfers(config, business_type, index)


def sepa_csv(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    rows: list[list[object]] = [
        [
            "batch_id",
            "end_to_end_id",
            "creditor_name",
            "creditor_iban",
            "creditor_bic",
            "amount",
            "currency",
            "execution_date",
            "remittance_information",
        ]
    ]
    for p in _payments(config, 134000, index):
        rows.append(
            [
                f"B{index:05d}",
                p["end_to_end"],
                p["creditor"],
                p["iban"],
                p["bic"],
                _cents(p["cents"]),
                "EUR",
                p["execution"].isoformat(),
                p["remittance"],
            ]
        )
    return f"{when:%Y%m%d}_{index:03d}_SEPA.csv", _csv(rows)


def _transfer(p: dict) -> str:
    return (
        f"<CdtTrfTxInf><PmtId><EndToEndId>{p['end_to_end']}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="EUR">{_cents(p["cents"])}</InstdAmt></Amt>'
        f"<CdtrAgt><FinInstnId><BIC>{p['bic']}</BIC></FinInstnId></CdtrAgt>"
        f"<Cdtr><Nm>{escape(p['creditor'])}</Nm></Cdtr>"
        f"<CdtrAcct><Id><IBAN>{p['iban']}</IBAN></Id></CdtrAcct>"
        f"<RmtInf><Ustrd>{escape(p['remittance'])}</Ustrd></RmtInf></CdtTrfTxInf>\n"
    )


def pain001(config: VismaSandboxConfig, index: int, when: datetime) -> str:
    """A pain.001.001.03 credit transfer initiation, one PmtInf per requested execution date
    (`<MsgId>-1`, `-2`, ... oldest first); NbOfTxs/CtrlSum consistent at both levels."""
    transfers = _payments(config, 134001, index)
    debtor = iban(rng_for(config, 134001, index, "debtor"))
    msg_id = f"MSG-{config.tenant_id.upper()}-{index:05d}"
    by_date: dict[object, list[dict]] = {}
    for p in transfers:
        by_date.setdefault(p["execution"], []).append(p)
    blocks = "".join(
        f"<PmtInf><PmtInfId>{msg_id}-{n}</PmtInfId><PmtMtd>TRF</PmtMtd><BtchBookg>true</BtchBookg>"
        f"<NbOfTxs>{len(block)}</NbOfTxs><CtrlSum>{_cents(sum(p['cents'] for p in block))}"
        f"</CtrlSum><PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>"
        f"<ReqdExctnDt>{day.isoformat()}</ReqdExctnDt>"
        f"<Dbtr><Nm>Sandbox BV</Nm></Dbtr><DbtrAcct><Id><IBAN>{debtor}</IBAN></Id></DbtrAcct>"
        f"<DbtrAgt><FinInstnId><BIC>INGBNL2A</BIC></FinInstnId></DbtrAgt>"
        f"<ChrgBr>SLEV</ChrgBr>\n{''.join(_transfer(p) for p in block)}</PmtInf>\n"
        for n, (day, block) in enumerate(sorted(by_date.items()), start=1)
    )
    count, total = len(transfers), _cents(sum(p["cents"] for p in transfers))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{PAIN_NS}"><CstmrCdtTrfInitn>\n'
        f"<GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{when:%Y-%m-%dT%H:%M:%S}</CreDtTm>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{total}</CtrlSum>"
        f"<InitgPty><Nm>Sandbox BV</Nm></InitgPty></GrpHdr>\n"
        f"{blocks}</CstmrCdtTrfInitn></Document>\n"
    )


def sepa_payment_file(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    """Even files are `*_SEPA.xml`, odd ones `*_SEPA.zip` holding the same kind of XML."""
    stem = f"{when:%Y%m%d}_{index:03d}_SEPA"
    xml = pain001(config, index, when).encode("utf-8")
    if index % 2 == 0:
        return f"{stem}.xml", xml
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{stem}.xml", date_time=when.timetuple()[:6])
        archive.writestr(info, xml, zipfile.ZIP_DEFLATED)
    return f"{stem}.zip", buffer.getvalue()


def functions_snapshot(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    """RST Functie: every snapshot is the complete list; later ones add and rename functions."""
    rows: list[list[object]] = [["function_code", "function_name", "valid_from"]]
    for code in range(10 + 2 * index):
        rng = rng_for(config, 101002, code)
        name = f"{rng.choice(FUNCTIONS)} {code:03d}"
        if code % 4 == 0 and index:
            name += f" (rev {index})"
        rows.append([f"F{code:04d}", name, config.start.date().isoformat()])
    return f"RST_Functie_{when:%Y%m%d%H%M}.csv", _csv(rows)


def employee_departments(config: VismaSandboxConfig, upto: int) -> dict[str, str]:
    """Each employee's department after applying mutation files 0..upto-1 in order."""
    state = {f"E{e:05d}": DEPARTMENTS[e % len(DEPARTMENTS)] for e in range(20)}
    for index in range(upto):
        for employee, _old, new in _mutations(config, index, state):
            state[employee] = new
    return state


def _mutations(config, index: int, state: dict[str, str]) -> list[tuple[str, str, str]]:
    rng = rng_for(config, 101100, index)
    out, current = [], dict(state)
    for _ in range(6):
        employee = rng.choice(sorted(current))
        new = rng.choice([d for d in DEPARTMENTS if d != current[employee]])
        out.append((employee, current[employee], new))
        current[employee] = new
    return out


def employee_mutations(config: VismaSandboxConfig, index: int, when: datetime) -> tuple[str, bytes]:
    """Bint Harmony mutations: old_value is the value the previous file left, so order matters."""
    state = employee_departments(config, index)
    rows: list[list[object]] = [
        ["mutation_id", "employee_id", "field", "old_value", "new_value", "effective_date"]
    ]
    for n, (employee, old, new) in enumerate(_mutations(config, index, state)):
        rows.append([f"M{index:04d}{n:02d}", employee, "department", old, new, f"{when:%Y-%m-%d}"])
    return f"BintHarmony_{when:%Y%m%d%H%M}_{index:03d}.csv", _csv(rows)


GENERATORS = {
    7101: sandbox_download,
    113003: journal_postings,
    134000: sepa_csv,
    134001: sepa_payment_file,
    101002: functions_snapshot,
    101100: employee_mutations,
}


def generate(
    config: VismaSandboxConfig, business_type: int, index: int, when: datetime
) -> tuple[str, bytes]:
    return GENERATORS[business_type](config, index, when)


def write_large_file(config: VismaSandboxConfig, path: Path, size: int) -> None:
    """Stream `size` bytes of deterministic CSV lines to `path` (never all in memory)."""
    rng = rng_for(config, "large")
    tmp = path.with_suffix(".tmp")
    written = 0
    with open(tmp, "wb") as handle:
        header = b"row;account;cost_centre;amount\r\n"
        handle.write(header[:size])
        written = min(len(header), size)
        row = 0
        while written < size:
            lines = []
            for _ in range(2000):
                row += 1
                amount = _cents(rng.randrange(-(10**7), 10**7))
                acc, cc = rng.choice(ACCOUNTS), rng.choice(COST_CENTRES)
                lines.append(f"{row};{acc};{cc};{amount}\r\n")
            block = "".join(lines).encode()[: size - written]
            handle.write(block)
            written += len(block)
    tmp.replace(path)
