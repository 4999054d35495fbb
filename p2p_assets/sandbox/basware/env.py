"""The sandbox tenant that serves when no Basware credentials are configured.

`P2P_SANDBOX_BASWARE_*` variables shape it; the defaults give a small Insights Pro tenant whose
Initial and first three daily Deltas are there at once and which publishes one more "day" every
ten minutes of wall time, so the sensor has something to find while you watch the UI.
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


def config_from_env() -> BaswareSandboxConfig:
    def number(name: str, default: float) -> float:
        return float(os.environ.get(f"P2P_SANDBOX_BASWARE_{name}") or default)

    interval = number("DELTA_INTERVAL_SECONDS", 600)
    return BaswareSandboxConfig(
        seed=int(number("SEED", _DEFAULTS.seed)),
        invoices=int(number("INVOICES", _DEFAULTS.invoices)),
        initial_deltas=int(number("INITIAL_DELTAS", _DEFAULTS.initial_deltas)),
        delta_interval_seconds=interval if interval > 0 else None,
        tier=os.environ.get("P2P_SANDBOX_BASWARE_TIER") or _DEFAULTS.tier,  # type: ignore[arg-type]
        file_format=os.environ.get("P2P_SANDBOX_BASWARE_FORMAT") or _DEFAULTS.file_format,  # type: ignore[arg-type]
        compression=os.environ.get("P2P_SANDBOX_BASWARE_COMPRESSION") or _DEFAULTS.compression,  # type: ignore[arg-type]
    )
