"""What the sandboxes plant on purpose, as the ids the marts show, computed from the generators
(not from a warehouse): the Basware tenant's planted invoices (`basware/problems.py`) and the
Visma payment files' planted transfers (`visma/payments.py`). Everything else is generated clean.
"""

import numpy as np

from p2p_assets.sandbox.basware import linking, problems
from p2p_assets.sandbox.basware.config import BaswareSandboxConfig
from p2p_assets.sandbox.basware.masters import ids
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.visma import payments
from p2p_assets.sandbox.visma.config import VismaSandboxConfig


def planted_problems(
    basware_config: BaswareSandboxConfig | None = None,
    visma_config: VismaSandboxConfig | None = None,
) -> dict:
    """{"duplicate_invoice": (invoice id, id of the invoice it duplicates),
    "amount_mismatch": (end_to_end_id, invoice id), "unknown_invoice": end_to_end_id,
    "price_variance": invoice row id, "not_received": invoice row id}; a problem the tenant is
    too small to plant is left out. The Visma ones are those of its initial files
    (`files_per_type`); `visma_config` defaults to the one linked to `basware_config`."""
    basware_config = basware_config or BaswareSandboxConfig()
    if visma_config is None:
        visma_config = VismaSandboxConfig(seed=basware_config.seed, basware=basware_config)
    plan = Plan(basware_config)
    chosen = problems.planted(basware_config)
    out: dict = {}

    def invoice(serial: int) -> str:
        return ids(plan, "IA_INVOICE", np.array([serial]))[0]

    def first_row(serial: int) -> str:
        first = linking.invoice_row_layout(plan, np.array([serial]))[1]
        return ids(plan, "IA_INVOICE_ROW", first)[0]

    if chosen.duplicate != problems.NONE:
        out["duplicate_invoice"] = (invoice(chosen.duplicate), invoice(chosen.original))
    if chosen.price_variance != problems.NONE:
        out["price_variance"] = first_row(chosen.price_variance)
    if chosen.not_received != problems.NONE:
        out["not_received"] = first_row(chosen.not_received)
    for business_type in (payments.CSV, payments.PAIN):
        for index in range(visma_config.files_per_type.get(business_type, 0)):
            for transfer in payments.transfers(visma_config, business_type, index):
                if transfer["planted"] == "amount_mismatch":
                    out["amount_mismatch"] = (transfer["end_to_end"], transfer["invoice_id"])
                elif transfer["planted"] == "unknown_invoice":
                    out["unknown_invoice"] = transfer["end_to_end"]
    return out
