"""The Boss Insights Data API sandbox (write side): CDM writes, async push, webhooks.

Modules: `config.py` the account and the variants it plays (how POST and PUT behave, the webhook
layout, the destinations), `env.py` the `P2P_SANDBOX_BOSS_INSIGHTS_*` variables, `state.py` the
shared SQLite state, `webhooks.py` the push webhooks in each layout, `sandbox.py` the app."""

from p2p_assets.sandbox.boss_insights.config import (
    PAYABLE_INVOICE,
    SANDBOX_CREDENTIALS,
    SANDBOX_WEBHOOK_CREDENTIALS,
    VENDOR,
    BossInsightsConfig,
    BossInsightsFaults,
    CdmObject,
    FailRule,
    RejectRule,
)
from p2p_assets.sandbox.boss_insights.env import config_from_env
from p2p_assets.sandbox.boss_insights.sandbox import BossInsightsSandbox

__all__ = [
    "PAYABLE_INVOICE",
    "SANDBOX_CREDENTIALS",
    "SANDBOX_WEBHOOK_CREDENTIALS",
    "VENDOR",
    "BossInsightsConfig",
    "BossInsightsFaults",
    "BossInsightsSandbox",
    "CdmObject",
    "FailRule",
    "RejectRule",
    "config_from_env",
]
