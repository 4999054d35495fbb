"""Fixtures shared by every test folder: a private data directory and warehouse per test."""

from pathlib import Path

import pytest

# Settings read from the environment that must not leak in from the developer's shell.
VENDOR_ENV = (
    "BASWARE_API_URL",
    "BASWARE_TOKEN_URL",
    "BASWARE_CLIENT_ID",
    "BASWARE_CLIENT_SECRET",
    "BASWARE_USERNAME",
    "BASWARE_PASSWORD",
    "BASWARE_SCOPES",
    "VISMA_API_URL",
    "VISMA_TOKEN_URL",
    "VISMA_CLIENT_ID",
    "VISMA_CLIENT_SECRET",
    "VISMA_TENANT_ID",
    "VISMA_PLAN",
    "VISMA_PUBLISH_BUSINESS_TYPE",
    "WORKSPACE365_URL",
    "WORKSPACE365_ENVIRONMENT",
    "WORKSPACE365_TOKEN",
    "BOSS_INSIGHTS_URL",
    "BOSS_INSIGHTS_USERNAME",
    "BOSS_INSIGHTS_PASSWORD",
    "BOSS_INSIGHTS_ACCOUNT_KEY",
    "BOSS_INSIGHTS_VENDOR_PATH",
    "BOSS_INSIGHTS_PAYABLE_INVOICE_PATH",
    "P2P_WEBHOOK_USERNAME",
    "P2P_WEBHOOK_PASSWORD",
)


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`P2P_DATA_DIR` and `P2P_WAREHOUSE` under `tmp_path`, no vendor settings from the shell, the
    Visma sandbox's spike arrest off (tests of the arrest switch it on); returns `tmp_path`."""
    monkeypatch.setenv("P2P_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("P2P_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS", "0")
    return tmp_path
