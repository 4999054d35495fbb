"""Where each vendor's data in the warehouse came from: a sandbox, or one live API.

`p2p.vendor_sources` has one row per vendor. Every writer claims its vendor's source in the same
transaction as its data (`claim`), so sandbox data and real data never end up in one warehouse,
and two live tenants (production and test, say) neither: a second source is refused with a
message naming the warehouse file and what to do. A write-back target also checks the sources of
the data it sends (`reads`), so sandbox invoices are never sent to a real tenant.

A warehouse written before sources were recorded holds data of unknown origin. A sandbox load
adopts it (that is what `p2p-assets dev` filled); live data is refused until a person says where
the existing data came from with `p2p-assets warehouse adopt <vendor>`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import duckdb

TABLE = "p2p.vendor_sources"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    vendor VARCHAR PRIMARY KEY,
    sandbox BOOLEAN NOT NULL,
    endpoint VARCHAR NOT NULL,
    first_written_at TIMESTAMP NOT NULL,
    last_written_at TIMESTAMP NOT NULL
)"""

LABELS = {
    "basware": "Basware",
    "visma": "Visma",
    "workspace365": "Workspace 365",
    "boss_insights": "Boss Insights",
}
# Where a vendor's data sits, to tell an empty warehouse from one written before sources were
# recorded: (schema, table, condition).
_DATA = {
    "basware": ("basware", "extracts", "true"),
    "visma": ("visma", "files", "true"),
    "workspace365": ("writeback", "outbox", "target LIKE 'workspace365:%'"),
    "boss_insights": ("writeback", "outbox", "target LIKE 'boss_insights:%'"),
}


class MixedSourcesError(RuntimeError):
    """Writing this data would mix sources in one warehouse; says which and what to do."""


@dataclass(frozen=True)
class Source:
    vendor: str
    sandbox: bool
    endpoint: str  # "sandbox", or the live API's origin (scheme://host[:port]), never a secret

    @classmethod
    def from_dict(cls, data: dict) -> "Source":
        return cls(str(data["vendor"]), bool(data["sandbox"]), str(data["endpoint"]))

    def to_dict(self) -> dict:
        return {"vendor": self.vendor, "sandbox": self.sandbox, "endpoint": self.endpoint}

    @classmethod
    def live(cls, vendor: str, url: str) -> "Source":
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return cls(vendor, sandbox=False, endpoint=f"{parts.scheme}://{parts.hostname}{port}")

    def describe(self) -> str:
        label = LABELS.get(self.vendor, self.vendor)
        if self.sandbox:
            return f"the {label} sandbox"
        return f"the live {label} API at {self.endpoint}"


def recorded(con: duckdb.DuckDBPyConnection) -> dict[str, Source]:
    """Every vendor's recorded source (empty for a new warehouse)."""
    if not _exists(con, "p2p", "vendor_sources"):
        return {}
    rows = con.execute(f"SELECT vendor, sandbox, endpoint FROM {TABLE}").fetchall()
    return {vendor: Source(vendor, bool(sandbox), endpoint) for vendor, sandbox, endpoint in rows}


def claim(con: duckdb.DuckDBPyConnection, source: Source, *, reads: Iterable[str] = ()) -> None:
    """Record that `source` writes into this warehouse, or refuse (`MixedSourcesError`).

    Call inside the writer's transaction, before it writes. `reads` names the vendors whose data
    the writer sends on (a write-back target reads Basware): their data must come from a sandbox
    exactly when `source` is one.
    """
    check(con, source, reads=reads)
    record(con, source)


def check(con: duckdb.DuckDBPyConnection, source: Source, *, reads: Iterable[str] = ()) -> None:
    """`claim` without recording: on a read-only connection, before a vendor call."""
    known = recorded(con)
    path = _path(con)
    existing = known.get(source.vendor)
    if existing is not None and existing != source:
        raise MixedSourcesError(
            f"The warehouse {path} holds {_label(source)} data from {existing.describe()}; "
            f"refusing to write data from {source.describe()} into it. {_what_to_do(path)}"
        )
    if existing is None and _has_data(con, source.vendor) and not source.sandbox:
        raise MixedSourcesError(
            f"The warehouse {path} holds {_label(source)} data written before p2p_assets "
            f"recorded where data comes from; refusing to add data from {source.describe()}. "
            f"If the existing data came from that API too, record it with `p2p-assets warehouse "
            f"adopt {source.vendor}`. {_what_to_do(path)}"
        )
    for vendor in reads:
        read = known.get(vendor)
        mixed = read is not None and read.sandbox != source.sandbox
        unknown = read is None and not source.sandbox and _has_data(con, vendor)
        if mixed or unknown:
            origin = read.describe() if read is not None else "an unrecorded source"
            raise MixedSourcesError(
                f"The warehouse {path} holds {LABELS.get(vendor, vendor)} data from {origin}; "
                f"refusing to send it to {source.describe()}. {_what_to_do(path)}"
            )


def record(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Record `source` for its vendor (replacing what was recorded: `warehouse adopt`)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("CREATE SCHEMA IF NOT EXISTS p2p")
    con.execute(DDL)
    con.execute(
        f"""INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (vendor) DO UPDATE SET sandbox = excluded.sandbox,
              endpoint = excluded.endpoint, last_written_at = excluded.last_written_at""",
        [source.vendor, source.sandbox, source.endpoint, now, now],
    )


def _label(source: Source) -> str:
    return LABELS.get(source.vendor, source.vendor)


def _what_to_do(path: str) -> str:
    return (
        "Keep sandbox and live data in separate warehouses: point P2P_DATA_DIR (and "
        f"P2P_WAREHOUSE) at a new location, or delete {path} to start over."
    )


def _path(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row and row[0] else "(in memory)"


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _has_data(con: duckdb.DuckDBPyConnection, vendor: str) -> bool:
    schema, table, condition = _DATA[vendor]
    if not _exists(con, schema, table):
        return False
    row = con.execute(f"SELECT count(*) FROM {schema}.{table} WHERE {condition}").fetchone()
    return bool(row and row[0])
