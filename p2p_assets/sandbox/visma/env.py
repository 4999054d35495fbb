"""The sandbox app that serves when no Visma variables are configured.

`P2P_SANDBOX_VISMA_*` variables shape it; the defaults give the six subscribed business types with
a few files each, the `continuous` plan with its limits enforced, the real spike arrest (one call
per 0.6 s), content retained 31 days and a single-tenant app.

    SEED, PLAN, SPIKE_ARREST_SECONDS, LARGE_FILE_BYTES, FILES_PER_TYPE
    WINDOW             the weekly/daily plans' call window, e.g. `Mon,Thu 06:00-08:00 Europe/Paris`
    ENFORCE_LIMITS     0/false: no window, per-window, per-day or window-days caps
    RETENTION_DAYS     days a file's content stays downloadable; `none`: forever
    SINGLE_TENANT      0/false: a legacy token without `x-raet-tenant-id` answers 401

The SEPA files pay, and the payroll journals book on, the Basware sandbox tenant that
`P2P_SANDBOX_BASWARE_*` describes (its SEED, INVOICES, ...).
"""

import os

from p2p_assets.sandbox.basware import env as basware_env
from p2p_assets.sandbox.visma.config import VismaSandboxConfig

_DEFAULTS = VismaSandboxConfig()
SANDBOX_CREDENTIALS = {
    "client_id": _DEFAULTS.client_id,
    "client_secret": _DEFAULTS.client_secret,
    "tenant_id": _DEFAULTS.tenant_id,
}


def _variable(name: str) -> str | None:
    return os.environ.get(f"P2P_SANDBOX_VISMA_{name}") or None


def _flag(name: str, default: bool) -> bool:
    value = _variable(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off")


def _retention_days() -> int | None:
    value = _variable("RETENTION_DAYS")
    if value is None:
        return _DEFAULTS.retention_days
    return None if value.strip().lower() == "none" else int(value)


def config_from_env() -> VismaSandboxConfig:
    def number(name: str, default: float) -> float:
        return float(_variable(name) or default)

    large = int(number("LARGE_FILE_BYTES", 0))
    per_type = _variable("FILES_PER_TYPE")
    shape = (
        {"files_per_type": {t: int(per_type) for t in _DEFAULTS.files_per_type}} if per_type else {}
    )
    return VismaSandboxConfig(
        **shape,
        seed=int(number("SEED", _DEFAULTS.seed)),
        plan=_variable("PLAN") or _DEFAULTS.plan,  # type: ignore[arg-type]
        spike_interval_seconds=number("SPIKE_ARREST_SECONDS", _DEFAULTS.spike_interval_seconds),
        large_file_bytes=large or None,
        window=_variable("WINDOW"),
        enforce_limits=_flag("ENFORCE_LIMITS", _DEFAULTS.enforce_limits),
        retention_days=_retention_days(),
        single_tenant=_flag("SINGLE_TENANT", _DEFAULTS.single_tenant),
        # The payments pay the Basware sandbox tenant served beside this one.
        basware=basware_env.config_from_env(),
    )
