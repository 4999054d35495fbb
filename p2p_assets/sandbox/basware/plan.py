"""The shape of a simulated tenant: which serial numbers each extract creates or re-delivers, and
the counter-based random numbers every generated value is drawn from.

Every value is a pure function of (seed, column salt, record serial[, version]) through a
vectorised splitmix64 hash, so any subset of records can be regenerated alone, in any order, in
bulk with numpy, and the same config always gives the same data. Records are created in contiguous
serial blocks per extract; a child block's size is exactly `mean * parents`, so each block's first
child serial is known without generating earlier extracts.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np

from p2p_assets.sandbox.basware.config import BaswareSandboxConfig

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
INVOICE_ROWS_PER_INVOICE = 4
ORDER_ROWS_PER_ORDER = 3


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _key(seed: int, salt: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class Block:
    """Serials `[start, stop)` created by one extract."""

    start: int
    stop: int

    def serials(self) -> np.ndarray:
        return np.arange(self.start, self.stop, dtype=np.int64)


@dataclass(frozen=True)
class Sizes:
    """How many records of an entity the Initial creates and each Delta adds/re-delivers."""

    initial: int
    per_delta: int
    redeliver: int

    def block(self, extract: int) -> Block:
        if extract == 0:
            return Block(0, self.initial)
        start = self.initial + (extract - 1) * self.per_delta
        return Block(start, start + self.per_delta)

    def created_in(self, serials: np.ndarray) -> np.ndarray:
        """Index of the extract that created each serial."""
        if self.per_delta == 0:
            return np.zeros_like(serials)
        return np.where(serials < self.initial, 0, 1 + (serials - self.initial) // self.per_delta)

    def count_through(self, extracts: np.ndarray) -> np.ndarray:
        """Number of records existing once each extract is delivered."""
        return self.initial + extracts * self.per_delta


class Plan:
    """Sizes, dates and random draws of one tenant config."""

    def __init__(self, config: BaswareSandboxConfig):
        self.config = config
        self.seed = config.seed
        n, d = config.invoices, config.new_invoices_per_delta
        self.invoices = Sizes(n, d, max(1, d // 2))
        self.suppliers = Sizes(max(5, n // 10), max(1, d // 10), max(1, d // 10))
        self.users = Sizes(max(5, n // 30), max(1, d // 30), max(1, d // 30))
        self.orgs = Sizes(max(3, min(60, n // 50)), 0, 0)
        orders_per_delta = max(1, d * 6 // 10)
        self.orders = Sizes(max(5, n * 6 // 10), orders_per_delta, max(1, orders_per_delta // 2))
        self.initial_invoice_rows = config.invoice_rows or INVOICE_ROWS_PER_INVOICE * n
        self._start = datetime.combine(config.start_date, time(2, 15))

    # -- random draws ---------------------------------------------------------------------------
    def rand(self, salt: str, serials: np.ndarray, version: np.ndarray | None = None) -> np.ndarray:
        x = _mix(np.asarray(serials).astype(np.uint64) ^ _key(self.seed, salt))
        if version is not None:
            with np.errstate(over="ignore"):
                x = _mix(x ^ (np.asarray(version).astype(np.uint64) * _GOLDEN))
        return x

    def pick(self, salt: str, serials: np.ndarray, n, version: np.ndarray | None = None):
        """Integers in [0, n) (n a scalar or an array per serial)."""
        modulus = np.asarray(n).astype(np.uint64)
        return (self.rand(salt, serials, version) % modulus).astype(np.int64)

    def prefix(self, table: str) -> str:
        return hashlib.blake2b(f"{self.seed}:{table}".encode(), digest_size=4).hexdigest()

    def redelivered(self, sizes: Sizes, extract: int, salt: str) -> np.ndarray:
        """Existing serials a Delta sends again with changed values (sorted)."""
        if extract == 0 or sizes.redeliver == 0:
            return np.zeros(0, dtype=np.int64)
        existing = sizes.block(extract).start
        rng = np.random.default_rng([self.seed, extract, int(_key(0, salt) >> np.uint64(33))])
        chosen = rng.choice(existing, size=min(sizes.redeliver, existing), replace=False)
        return np.sort(chosen.astype(np.int64))

    # -- dates ----------------------------------------------------------------------------------
    def extract_time(self, extract: int) -> datetime:
        return self._start + timedelta(days=extract, seconds=(extract * 97) % 600)

    def day(self, extract: np.ndarray | int) -> np.ndarray:
        """Midnight of each extract's date, as datetime64[s]."""
        base = np.datetime64(self.config.start_date, "D").astype("datetime64[s]")
        return base + (np.asarray(extract, dtype=np.int64) * 86400).astype("timedelta64[s]")

    def created(self, salt: str, serials: np.ndarray, extract: np.ndarray) -> np.ndarray:
        """Creation time of records first delivered in `extract`: during the day before it, or
        for the Initial anywhere in the year before."""
        back_days = np.where(extract == 0, 1 + self.pick(salt + ":d", serials, 365), 1)
        seconds = self.pick(salt + ":s", serials, 86400) - back_days * 86400
        return self.day(extract) + seconds.astype("timedelta64[s]")

    # -- child layout ---------------------------------------------------------------------------
    def children(self, salt: str, parents: np.ndarray, sizes: Sizes, mean: int, initial_total: int):
        """(counts, first child serial) of each parent: `mean` children per parent on average,
        varying in pairs so each block holds exactly its planned number of children."""
        created = sizes.created_in(parents)
        block_start = np.where(created == 0, 0, sizes.initial + (created - 1) * sizes.per_delta)
        block_stop = np.where(created == 0, sizes.initial, block_start + sizes.per_delta)
        base = np.where(created == 0, initial_total // sizes.initial, mean)
        extra = np.where(created == 0, initial_total % sizes.initial, 0)
        child_start = np.where(
            created == 0, 0, initial_total + mean * (block_start - sizes.initial)
        )
        j = parents - block_start
        pair = j // 2
        first = block_start + 2 * pair
        even = 1 + self.pick(salt, first, np.maximum(2 * base - 1, 1))
        odd = j % 2 == 1
        counts = np.where(odd, 2 * base - even, np.where(first + 1 < block_stop, even, base))
        offsets = child_start + 2 * base * pair + np.where(odd, even, 0) + np.minimum(j, extra)
        counts = counts + (j < extra)
        return counts.astype(np.int64), offsets.astype(np.int64)


def expand(counts: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(parent position, child serial, index within parent) for every child."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return parent, np.repeat(offsets, counts) + within, within
