"""Fixtures the outbox, review and webhook-fold tests share: a real DuckDB file and its journal."""

from pathlib import Path

import duckdb
import pytest

from p2p_assets.lib.writeback.journal import Journal, journal_path


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        yield connection


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(journal_path(tmp_path / "w.duckdb")) as opened:
        yield opened
