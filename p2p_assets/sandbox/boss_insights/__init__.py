"""The Boss Insights Data API sandbox (write side): CDM writes, async push, webhooks."""

from p2p_assets.sandbox.boss_insights.sandbox import BossInsightsConfig, BossInsightsSandbox

__all__ = ["BossInsightsConfig", "BossInsightsSandbox"]
