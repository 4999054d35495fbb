"""The Boss Insights Data API sandbox (write side): CDM writes, async push, webhooks."""

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
]
