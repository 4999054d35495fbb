"""Fixtures shared by every test folder: a private data directory and warehouse per test."""

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

# Settings read from the environment that must not leak in from the developer's shell: every
# vendor's variables (a single one would make that vendor live) and the webhook receiver's.
VENDOR_PREFIXES = ("BASWARE_", "VISMA_", "WORKSPACE365_", "BOSS_INSIGHTS_", "P2P_WEBHOOK_")


def vendor_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    return [name for name in (os.environ if environ is None else environ)
            if name.startswith(VENDOR_PREFIXES)]  # fmt: skip


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`P2P_DATA_DIR` and `P2P_WAREHOUSE` under `tmp_path`, no vendor settings from the shell, the
    Visma sandbox's spike arrest off (tests of the arrest switch it on); returns `tmp_path`."""
    monkeypatch.setenv("P2P_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("P2P_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    for name in vendor_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS", "0")
    return tmp_path
