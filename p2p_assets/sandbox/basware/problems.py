"""The problems the sandbox plants on purpose, chosen from the seed among the Initial's invoices.

- `duplicate` is a second invoice of `original`'s supplier with the same rows (so the same
  amounts) and the number `INV-<original's>-2`, arriving after it;
- `price_variance`'s first row bills its order row 5 % above the order price;
- `not_received`'s first row bills an order row that was never received.

Planted invoices are never removed and never get past "InApproval", so they stay unpaid and
visible in every later extract. Everything else is generated clean (see `linking.py`).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from p2p_assets.sandbox.basware import linking
from p2p_assets.sandbox.basware.config import BaswareSandboxConfig
from p2p_assets.sandbox.basware.plan import Plan

NONE = -1


@dataclass(frozen=True)
class Planted:
    """Invoice serials (NONE where the tenant is too small to plant it)."""

    duplicate: int = NONE
    original: int = NONE
    price_variance: int = NONE
    not_received: int = NONE

    def held(self) -> np.ndarray:
        """Serials kept unpaid and never removed (the original only never removed)."""
        return np.array(
            [s for s in (self.duplicate, self.price_variance, self.not_received) if s != NONE],
            dtype=np.int64,
        )

    def kept(self) -> np.ndarray:
        return np.array([s for s in (*self.held(), self.original) if s != NONE], dtype=np.int64)


def _first_from(candidates: np.ndarray, start: int) -> int:
    """The first true index at or after `start`, wrapping around; NONE if there is none."""
    hits = np.flatnonzero(np.roll(candidates, -start))
    return NONE if not len(hits) else int((hits[0] + start) % len(candidates))


@lru_cache(maxsize=8)
def planted(config: BaswareSandboxConfig) -> Planted:
    plan = Plan(config)
    s = np.arange(plan.invoices.initial, dtype=np.int64)
    counts, _ = linking.invoice_row_layout(plan, s)
    plain = ~linking.may_bill(plan, s) & (linking.credit_sign(plan, s) > 0)
    start = int(plan.pick("plant:dup", np.zeros(1, dtype=np.int64), len(s))[0])
    original = _first_from(plain, start)
    duplicate = NONE
    if original != NONE:
        # The copy reaches Basware after the invoice it copies, as a resent invoice does.
        arrived = plan.created("inv", s, np.zeros_like(s))
        twin = plain & (counts == counts[original]) & (arrived > arrived[original])
        duplicate = _first_from(twin, (original + 1) % len(s))
    if duplicate == NONE:
        original = NONE
    billing = linking.may_bill(plan, s)
    billing[[x for x in (original, duplicate) if x != NONE]] = False
    start = int(plan.pick("plant:po", np.zeros(1, dtype=np.int64), len(s))[0])
    price = _first_from(billing, start)
    received = NONE
    if price != NONE:
        billing[price] = False
        received = _first_from(billing, (price + 1) % len(s))
    return Planted(duplicate, original, price, received)
