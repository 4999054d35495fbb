"""The warehouse connection's storage settings: deleted rows are reclaimed a little at a time."""

import pytest

from p2p_assets.lib.warehouse.connection import (
    DEFAULT_VACUUM_TASKS,
    VACUUM_VARIABLE,
    connect,
    transaction,
)


def _setting(con) -> int:
    return int(con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0])


def test_a_writer_merges_a_few_row_groups_per_checkpoint_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(VACUUM_VARIABLE, raising=False)
    with connect(tmp_path / "w.duckdb") as con:
        assert _setting(con) == DEFAULT_VACUUM_TASKS
    monkeypatch.setenv(VACUUM_VARIABLE, "0")
    with connect(tmp_path / "w.duckdb") as con:
        assert _setting(con) == 0


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_vacuum_setting_names_the_variable(tmp_path, monkeypatch, value):
    monkeypatch.setenv(VACUUM_VARIABLE, value)
    with pytest.raises(ValueError, match=VACUUM_VARIABLE), connect(tmp_path / "w.duckdb"):
        pass


def _stored_per_live_row(path, rounds: int) -> list[float]:
    """What a Basware delta does to a current table: delete 5 % of the rows, spread over every
    row group, and append new ones, one commit each; stored rows (deleted ones not yet
    reclaimed included) per live row after each."""
    ratios = []
    with connect(path) as con:
        con.execute(
            "CREATE TABLE t AS SELECT range AS id, md5(range::VARCHAR) AS v FROM range(600000)"
        )
        con.execute("CHECKPOINT")
        first = 600_000
        for round_ in range(rounds):
            with transaction(con):
                con.execute(f"DELETE FROM t WHERE hash(id + {round_}) % 20 = 0")
                con.execute(
                    "INSERT INTO t SELECT range, md5(range::VARCHAR) FROM range(?, ?)",
                    [first, first + 30_000],
                )
            first += 30_000
            con.execute("CHECKPOINT")
            live = con.execute("SELECT count(*) FROM t").fetchone()[0]
            stored = con.execute(
                "SELECT estimated_size FROM duckdb_tables() WHERE table_name = 't'"
            ).fetchone()[0]
            ratios.append(stored / live)
    return ratios


def test_deleted_rows_stay_a_bounded_share_of_a_table_deltas_keep_changing(tmp_path, monkeypatch):
    monkeypatch.setenv(VACUUM_VARIABLE, "0")
    never_reclaimed = _stored_per_live_row(tmp_path / "never.duckdb", 8)
    monkeypatch.delenv(VACUUM_VARIABLE)
    reclaimed = _stored_per_live_row(tmp_path / "default.duckdb", 8)
    # Without merges every delete stays stored: the table grows by its deletes for ever.
    assert never_reclaimed[-1] >= 1.35
    # The default reclaims them a little at a time: the share stays bounded.
    assert max(reclaimed) <= 1.25
