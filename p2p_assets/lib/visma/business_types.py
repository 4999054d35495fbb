"""What we know about Visma business types: their names, how their files relate to each other, and
where their parsed content lands in the warehouse.

Three kinds, from the manual's own download advice:
- `delivery`: every file is a batch of its own (payment files, journal exports); all are kept.
- `snapshot`: every file is the complete list (RST Functie, 101002); only the newest one is current.
- `mutations`: every file holds changes to apply in upload order (Bint Harmony, 101100).
"""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["delivery", "snapshot", "mutations"]
DEFAULT_SUBSCRIPTIONS = (7101, 113003, 134000, 134001, 101002, 101100)
SANDBOX_UPLOADS = 7100


@dataclass(frozen=True)
class BusinessType:
    id: int
    name: str
    kind: Kind
    description: str

    @property
    def slug(self) -> str:
        return f"bt_{self.id}"


KNOWN = {
    bt.id: bt
    for bt in (
        BusinessType(
            7100, "File API Sandbox Uploads", "delivery", "Files this app publishes for testing."
        ),
        BusinessType(
            7101,
            "File API Sandbox Downloads",
            "delivery",
            "Test files of the File API sandbox app (xml, txt, csv): kept and inventoried, "
            "not parsed.",
        ),
        BusinessType(
            113003,
            "Journaalposten Export",
            "delivery",
            "Payroll journal postings (`RPD.<TENANT>.*` files), one row per posting line in "
            "`visma.journal_postings`: what payroll booked per account and cost centre, to "
            "reconcile against Basware coding.",
        ),
        BusinessType(
            134000,
            "RBM Business Downloads",
            "delivery",
            "SEPA payment lists (`*_SEPA.csv`), one row per payment in `visma.sepa_csv_payments`.",
        ),
        BusinessType(
            134001,
            "RBM Business Payment Files",
            "delivery",
            "SEPA credit transfers (ISO 20022 pain.001.001.03, `*_SEPA.xml` and `*_SEPA.zip`), "
            "one row per transfer in `visma.sepa_payments`; the files' own NbOfTxs and CtrlSum "
            "in `visma.sepa_control_sums`.",
        ),
        BusinessType(
            101002,
            "RST Functie",
            "snapshot",
            "The complete list of functions/positions. Each file replaces the last: "
            "`visma.rst_functie` holds the newest file's rows, `visma_history.rst_functie` "
            "every file's.",
        ),
        BusinessType(
            101100,
            "Bint Harmony Files",
            "mutations",
            "Employee mutations, applied strictly oldest first: `visma_history.employee_mutations`"
            " holds every mutation, `visma.employee_mutations` the latest per employee and field "
            "(the state after applying them all in upload order).",
        ),
    )
}

MUTATION_KEYS = {"employee_mutations": ("employee_id", "field")}
"""Per mutation table: the columns a mutation changes the value of (the applied state's key)."""


def business_type(type_id: int) -> BusinessType:
    return KNOWN.get(type_id) or BusinessType(
        type_id,
        f"Business type {type_id}",
        "delivery",
        "A business type without a known format: files are kept and inventoried, not parsed.",
    )


def parse_subscriptions(value: str | None) -> tuple[int, ...]:
    """`VISMA_BUSINESS_TYPES` ("113003,134001") as ids; unset or empty means the defaults."""
    if not value or not value.strip():
        return DEFAULT_SUBSCRIPTIONS
    ids = []
    for part in value.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise ValueError(f"VISMA_BUSINESS_TYPES: {part!r} is not a business type id")
        if int(part) not in ids:
            ids.append(int(part))
    return tuple(ids)
