"""Invoice exceptions written back to the Workspace 365 sandbox, end to end: Basware sandbox ->
warehouse -> `p2p-assets sync writeback` in its own process -> Workspace 365 sandbox over loopback
HTTP, with the outbox in the real DuckDB file."""

from pathlib import Path

import duckdb
import pytest

from p2p_assets.defs.workspace365.assets import EXPORT, TARGET
from p2p_assets.lib.writeback.journal import Journal, journal_path
from p2p_assets.sandbox.workspace365 import Workspace365Sandbox, Workspace365SandboxConfig
from p2p_assets_tests.defs.writeback import (
    clean_env,
    cli,
    fresh_data_dir,
    record_keys,
    shared_basware_warehouse,
    working,
)


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_basware_warehouse(tmp_path_factory)


@pytest.fixture
def data_dir(basware_warehouse: Path, tmp_path: Path) -> Path:
    return fresh_data_dir(basware_warehouse, tmp_path)


def _sandbox(data: Path) -> Workspace365Sandbox:
    return Workspace365Sandbox(Workspace365SandboxConfig(), data / "sandbox" / "workspace365")


def _exceptions(data: Path) -> list[str]:
    """The exceptions as the view holds them now (it reads the data as it is)."""
    return record_keys(data, EXPORT)


def _outbox(data: Path) -> dict[str, tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT record_key, status, remote_id, field_errors FROM writeback.outbox "
            "WHERE target = ?",
            [TARGET],
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_every_exception_is_sent_once_and_a_second_run_sends_nothing(data_dir: Path) -> None:
    expected = _exceptions(data_dir)
    assert len(expected) > 5
    first = cli(clean_env(data_dir), "sync", "workspace365")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(expected)} sent now" in first.stdout
    created = _sandbox(data_dir).records()
    assert sorted(r["record"]["Basware invoice id"] for r in created) == sorted(expected)
    outbox = _outbox(data_dir)
    assert {status for status, *_ in outbox.values()} == {"sent"}
    assert {r["id"] for r in created} == {int(remote) for _, remote, _ in outbox.values()}

    second = cli(clean_env(data_dir), "sync", "workspace365")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 sent now" in second.stdout
    assert len(_sandbox(data_dir).records()) == len(expected)


def test_a_field_error_from_workspace365_is_kept_with_the_field_and_message(data_dir: Path):
    victim = _exceptions(data_dir)[0]
    with duckdb.connect(str(working(data_dir))) as con:
        # XAF is ISO 4217, so our validation lets it pass; the tenant does not support it.
        con.execute("UPDATE basware.ia_invoice SET CURRENCY_CODE = 'XAF' WHERE ID = ?", [victim])
    result = cli(clean_env(data_dir), "sync", "workspace365")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rejected 1" in result.stdout
    status, remote_id, field_errors = _outbox(data_dir)[victim]
    assert (status, remote_id) == ("rejected", None)
    assert '"Amount"' in field_errors and "Currency 'XAF' is not supported" in field_errors
    created = {r["record"]["Basware invoice id"] for r in _sandbox(data_dir).records()}
    assert victim not in created and len(created) == len(_exceptions(data_dir)) - 1


def test_a_crash_after_the_vendor_accepted_never_creates_a_duplicate(data_dir: Path) -> None:
    expected = _exceptions(data_dir)
    # One at a time, so the journal's order is exact (live/test_workspace365_live.py kills a
    # sync sending four at once).
    crashed = cli({**clean_env(data_dir), "P2P_WRITEBACK_CRASH_AFTER_ACCEPTED": "3",
                   "WORKSPACE365_CONCURRENCY": "1"}, "sync", "workspace365")  # fmt: skip
    assert crashed.returncode == 70  # died between Workspace 365's yes and our record of it
    # The send journal holds three claims, and outcomes for the first two only.
    with Journal(journal_path(data_dir / "warehouse.duckdb")) as journal:
        entries = [e["status"] for e in journal.entries() if e["target"] == TARGET]
    assert entries == ["sending", "sent", "sending", "sent", "sending"]
    assert len(_sandbox(data_dir).records()) == 3

    resumed = cli(clean_env(data_dir), "sync", "workspace365")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # The crashed run no longer holds the write-back pool's slot.
    assert "marked failed: process" in resumed.stdout
    outbox = _outbox(data_dir)
    statuses = [status for status, *_ in outbox.values()]
    assert statuses.count("uncertain") == 1 and statuses.count("sent") == len(expected) - 1
    created = [r["record"]["Basware invoice id"] for r in _sandbox(data_dir).records()]
    assert sorted(created) == sorted(expected)  # each exactly once
