"""Fixtures shared by every test folder: a private data directory and warehouse per test."""

from pathlib import Path

import pytest

# Settings read from the environment that must not leak in from the developer's shell.
BASWARE_ENV = (
    "BASWARE_API_URL",
    "BASWARE_TOKEN_URL",
    "BASWARE_CLIENT_ID",
    "BASWARE_CLIENT_SECRET",
    "BASWARE_USERNAME",
    "BASWARE_PASSWORD",
    "BASWARE_SCOPES",
)


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`P2P_DATA_DIR` and `P2P_WAREHOUSE` under `tmp_path`, no Basware settings from the shell;
    returns `tmp_path`."""
    monkeypatch.setenv("P2P_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("P2P_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    for name in BASWARE_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path
