"""Where p2p_assets keeps its files, read from the environment (no Dagster imports).

`P2P_DATA_DIR` (default `data`) holds landed vendor files, sandbox state and the Dagster instance;
`P2P_WAREHOUSE` (default `{P2P_DATA_DIR}/warehouse.duckdb`) is the DuckDB warehouse.
"""

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("P2P_DATA_DIR") or "data").resolve()


def warehouse_path() -> Path:
    configured = os.environ.get("P2P_WAREHOUSE")
    return Path(configured).resolve() if configured else data_dir() / "warehouse.duckdb"


def landing_dir(vendor: str) -> Path:
    return data_dir() / "landing" / vendor


def sandbox_dir(vendor: str) -> Path:
    return data_dir() / "sandbox" / vendor


def dagster_home() -> Path:
    configured = os.environ.get("DAGSTER_HOME")
    return Path(configured).resolve() if configured else data_dir() / "dagster"


def webhook_store() -> Path:
    """The SQLite file the webhook receiver stores events in, and the sensor reads them from."""
    return data_dir() / "webhooks" / "events.sqlite3"


def seconds_from_env(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A duration in seconds from the environment variable `name` (unset: `default`); a value
    that is not a number is refused with a message naming the variable."""
    configured = os.environ.get(name, "").strip()
    if not configured:
        return default
    try:
        return max(minimum, float(configured))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {configured!r}") from None
