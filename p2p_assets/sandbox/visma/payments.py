"""The SEPA transfers the Visma sandbox's payment files carry: they pay the Basware sandbox's
invoices (the tenant of `VismaSandboxConfig.linked_basware`, same seed by default).

The invoices paid are the EUR invoices the Basware Initial already shows as paid, and only they:
every one of them has a payment date before the Initial's day, and Basware never pays another
invoice before that day nor removes a paid one, so later Deltas never change which invoices a
payment day holds. They are taken newest payment day first, whole days at a time, about
`payments_per_file` per file (fewer if the history is too short for the initial files): the
first 134000 (CSV) files, then the first 134001 (pain.001) files, then files delivered later,
alternating types, each an older payment run. Every transfer
is one invoice: creditor the supplier's name and BANK_ACCOUNT, amount its GROSS_SUM, execution
date its PAYMENT_DATE, remittance `Factuur <INVOICE_NUMBER>`. So across the loaded files every
paid EUR invoice between the earliest and the latest execution date has exactly one transfer.
Should files outnumber the history, later ones start over (and pay invoices twice).

Planted: in the first file, one transfer pays 90 % of its invoice (`amount_mismatch`); the
first pain.001 file (else the first file) carries one more transfer, to a real supplier for an
invoice number Basware never issues (`unknown_invoice`).
"""

import hashlib
import random
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware import data as basware_data
from p2p_assets.sandbox.basware import invoices
from p2p_assets.sandbox.basware.config import BaswareSandboxConfig
from p2p_assets.sandbox.basware.masters import supplier_iban
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.visma.config import VismaSandboxConfig

CSV, PAIN = 134000, 134001
BICS = {"FI": ("NDEAFIHH", "OKOYFIHH"), "DE": ("COBADEFF", "DEUTDEFF")}


@dataclass(frozen=True)
class Payable:
    invoice_id: str
    invoice_number: str
    creditor: str
    iban: str
    bic: str
    cents: int
    execution: date


@lru_cache(maxsize=8)
def payables(config: BaswareSandboxConfig) -> tuple[Payable, ...]:
    """The Initial's paid EUR invoices, newest payment day first (then by invoice number)."""
    plan = Plan(config)
    s = np.arange(plan.invoices.initial, dtype=np.int64)
    header, _ = invoices.invoices(plan, s, np.zeros_like(s))
    paid = (
        header["PAYMENT_DATE"].is_not_null().to_numpy()
        & (header["CURRENCY_CODE"] == "EUR").to_numpy()
    )
    keep = pl.Series(np.flatnonzero(paid))
    columns = {
        name: pl.Series(header[name]).gather(keep).to_list()
        for name in ("ID", "INVOICE_NUMBER", "SUPPLIER_NAME", "SUPPLIER_ID", "GROSS_SUM")
    }
    suppliers = np.array([int(i[-24:]) for i in columns["SUPPLIER_ID"]], dtype=np.int64)
    out = [
        Payable(
            invoice_id=invoice_id,
            invoice_number=number,
            creditor=creditor,
            iban=iban,
            bic=BICS[iban[:2]][supplier % len(BICS[iban[:2]])],
            cents=int(cents),
            execution=day,
        )
        for invoice_id, number, creditor, iban, supplier, cents, day in zip(
            columns["ID"],
            columns["INVOICE_NUMBER"],
            columns["SUPPLIER_NAME"],
            supplier_iban(plan, suppliers).to_list(),
            suppliers.tolist(),
            columns["GROSS_SUM"],
            header["PAYMENT_DATE"].gather(keep).to_list(),
            strict=True,
        )
    ]
    return tuple(sorted(out, key=lambda p: (-p.execution.toordinal(), p.invoice_number)))


@lru_cache(maxsize=8)
def _runs(config: BaswareSandboxConfig, per_file: int) -> tuple[tuple[Payable, ...], ...]:
    """The payables cut into runs of whole payment days, at least `per_file` each (the last
    may hold fewer)."""
    runs, current = [], []
    for payable in payables(config):
        if len(current) >= per_file and current[-1].execution != payable.execution:
            runs.append(tuple(current))
            current = []
        current.append(payable)
    if current:
        runs.append(tuple(current))
    return tuple(runs)


def slot(config: VismaSandboxConfig, business_type: int, index: int) -> int:
    """The file's place in the order files pay runs in (see the module docstring)."""
    n_csv, n_pain = config.files_per_type.get(CSV, 0), config.files_per_type.get(PAIN, 0)
    mine, other = (n_csv, 0) if business_type == CSV else (n_pain, n_csv)
    if index < mine:
        return other + index
    return n_csv + n_pain + 2 * (index - mine) + (business_type == PAIN)


def _per_file(config: VismaSandboxConfig) -> int:
    """`payments_per_file`, or fewer when the tenant's history would not fill the initial
    files without starting over."""
    initial = config.files_per_type.get(CSV, 0) + config.files_per_type.get(PAIN, 0)
    history = len(payables(config.linked_basware))
    return max(1, min(config.payments_per_file, history // max(1, initial)))


def planted_slots(config: VismaSandboxConfig) -> tuple[int, int]:
    """(slot of the amount mismatch, slot of the unknown invoice)."""
    n_csv, n_pain = config.files_per_type.get(CSV, 0), config.files_per_type.get(PAIN, 0)
    return 0, n_csv if n_pain else 0


def transfers(config: VismaSandboxConfig, business_type: int, index: int) -> list[dict]:
    """The file's transfers: end_to_end, creditor, iban, bic, cents, execution, remittance,
    invoice_id (None for the planted unknown invoice) and planted (None, "amount_mismatch" or
    "unknown_invoice")."""
    runs = _runs(config.linked_basware, _per_file(config))
    if not runs:
        raise ValueError("the linked Basware tenant has no paid EUR invoice to pay")
    place = slot(config, business_type, index)
    run = sorted(runs[place % len(runs)], key=lambda p: (p.execution, p.invoice_number))
    out = [
        {
            "invoice_id": p.invoice_id,
            "creditor": p.creditor,
            "iban": p.iban,
            "bic": p.bic,
            "cents": p.cents,
            "execution": p.execution,
            "remittance": f"Factuur {p.invoice_number}",
            "planted": None,
        }
        for p in run
    ]
    mismatch, unknown = planted_slots(config)
    if place == mismatch:
        wrong = out[_draw(config, "mismatch", len(out))]
        wrong["cents"] = wrong["cents"] * 9 // 10
        wrong["planted"] = "amount_mismatch"
    if place == unknown:
        creditor = out[_draw(config, "unknown creditor", len(out))]
        out.append(
            {
                **creditor,
                "invoice_id": None,
                "planted": "unknown_invoice",
                "cents": 10_000 + _draw(config, "unknown cents", 500_000),
                "execution": out[-1]["execution"],
                "remittance": f"Factuur INV-{199_000 + _draw(config, 'unknown number', 1000)}",
            }
        )
    for n, transfer in enumerate(out):
        transfer["end_to_end"] = f"E2E-{business_type}-{index:03d}-{n:04d}"
    return out


def _draw(config: VismaSandboxConfig, what: str, n: int) -> int:
    digest = hashlib.blake2b(repr((config.seed, "planted", what)).encode(), digest_size=8)
    return random.Random(int.from_bytes(digest.digest(), "big")).randrange(n)


def cost_centres(config: VismaSandboxConfig) -> list[str]:
    return _cost_centres(config.linked_basware)


@lru_cache(maxsize=8)
def _cost_centres(config: BaswareSandboxConfig) -> list[str]:
    return basware_data.cost_centres(Plan(config))
