"""The Boss Insights sandbox as `P2P_SANDBOX_BOSS_INSIGHTS_*` variables shape it, for
`p2p-assets sandbox serve boss_insights` and the in-process sandbox alike. The defaults are the
sandbox as it always was: POST upserts by `external_id`, PUT by id works, webhooks carry their ids
and a status in `data`, one destination.

    WEBHOOK_URL          where `sandbox serve` pushes webhooks (default http://127.0.0.1:8780)
    POST                 upsert (default) | create (a POST of a known external_id is a duplicate)
    PUT                  1 (default) | 0: `PUT {path}/{id}` answers 405
    WEBHOOK_LAYOUT       nested (default) | top_level | headers | results | per_destination
    OUTCOME_FIELD        status (default) | success (a boolean) | result.success (nested)
    SUCCESS_STATUS       the word for a successful push (default success)
    FAILURE_STATUS       the word for a failed one (default failed; e.g. rejected)
    DESTINATIONS         the connected applications, comma separated (default quickbooks)
    FAILING_DESTINATION  where a failed push fails (default the last destination)
    PUSH_DELAY_SECONDS   how long after the write its push ends (default 0.05)

Faults (failed pushes, 5xx, refusals, lost answers) are set at `POST /_sandbox/faults`.
"""

import os
from typing import Any

from p2p_assets.sandbox.boss_insights.config import BossInsightsConfig

PREFIX = "P2P_SANDBOX_BOSS_INSIGHTS_"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8780"


def _variable(name: str) -> str | None:
    return os.environ.get(f"{PREFIX}{name}") or None


def _flag(name: str, default: bool) -> bool:
    value = _variable(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off")


def webhook_url() -> str:
    return _variable("WEBHOOK_URL") or DEFAULT_WEBHOOK_URL


def config_from_env(**overrides: Any) -> BossInsightsConfig:
    """The configuration the variables describe; `overrides` (e.g. the webhook URL and
    credentials) win."""
    defaults = BossInsightsConfig()
    destinations = _variable("DESTINATIONS")
    settings: dict[str, Any] = {
        "post_mode": (_variable("POST") or defaults.post_mode).strip().lower(),
        "put_by_id": _flag("PUT", defaults.put_by_id),
        "webhook_layout": (_variable("WEBHOOK_LAYOUT") or defaults.webhook_layout).strip(),
        "outcome_field": (_variable("OUTCOME_FIELD") or defaults.outcome_field).strip(),
        "success_status": _variable("SUCCESS_STATUS") or defaults.success_status,
        "failure_status": _variable("FAILURE_STATUS") or defaults.failure_status,
        "destinations": tuple(d.strip() for d in destinations.split(",") if d.strip())
        if destinations
        else defaults.destinations,
        "failing_destination": _variable("FAILING_DESTINATION"),
        "push_delay_seconds": float(_variable("PUSH_DELAY_SECONDS") or defaults.push_delay_seconds),
    }
    return BossInsightsConfig(**{**settings, **overrides})
