"""The sandbox tenant that serves when no Basware credentials are configured.

`P2P_SANDBOX_BASWARE_*` variables shape it; the defaults give a small Insights Pro tenant whose
Initial and first three daily Deltas are there at once and which publishes one more "day" every
ten minutes of wall time, so the sensor has something to find while you watch the UI.

Besides SEED, INVOICES, INITIAL_DELTAS, DELTA_INTERVAL_SECONDS, TIER, FORMAT and COMPRESSION:
RECORD_COUNTS=1 adds `recordCount` to file list items (not part of the real API);
DATES_WITH_TIME=0 writes Oracle DATE columns without their time of day;
STORAGE_HOST (e.g. 127.0.0.2) redirects downloads to a separate S3-like storage server bound to
that address, on STORAGE_PORT (default: an ephemeral port).
"""

import os

from p2p_assets.sandbox.basware.config import BaswareSandboxConfig

_DEFAULTS = BaswareSandboxConfig()
SANDBOX_CREDENTIALS = {
    "client_id": _DEFAULTS.client_id,
    "client_secret": _DEFAULTS.client_secret,
    "username": _DEFAULTS.username,
    "password": _DEFAULTS.password,
}
_PREFIX = "P2P_SANDBOX_BASWARE_"


def _text(name: str) -> str | None:
    return os.environ.get(_PREFIX + name) or None


def _number(name: str, default: float) -> float:
    return float(_text(name) or default)


def _flag(name: str, default: bool) -> bool:
    value = _text(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def config_from_env() -> BaswareSandboxConfig:
    interval = _number("DELTA_INTERVAL_SECONDS", 600)
    return BaswareSandboxConfig(
        seed=int(_number("SEED", _DEFAULTS.seed)),
        invoices=int(_number("INVOICES", _DEFAULTS.invoices)),
        initial_deltas=int(_number("INITIAL_DELTAS", _DEFAULTS.initial_deltas)),
        delta_interval_seconds=interval if interval > 0 else None,
        tier=_text("TIER") or _DEFAULTS.tier,  # type: ignore[arg-type]
        file_format=_text("FORMAT") or _DEFAULTS.file_format,  # type: ignore[arg-type]
        compression=_text("COMPRESSION") or _DEFAULTS.compression,  # type: ignore[arg-type]
        record_counts=_flag("RECORD_COUNTS", _DEFAULTS.record_counts),
        dates_with_time=_flag("DATES_WITH_TIME", _DEFAULTS.dates_with_time),
        storage_host=_text("STORAGE_HOST"),
        storage_port=int(_number("STORAGE_PORT", _DEFAULTS.storage_port)),
    )
