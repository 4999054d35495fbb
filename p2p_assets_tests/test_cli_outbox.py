"""`p2p-assets outbox list|requeue` as a person runs them, in their own processes, on the outbox a
real `p2p-assets sync workspace365` left (the Workspace 365 sandbox, served by the sync)."""

from pathlib import Path

import duckdb
import pytest

from p2p_assets.defs.workspace365.assets import EXPORT, TARGET
from p2p_assets.sandbox.workspace365 import Workspace365Sandbox, Workspace365SandboxConfig
from p2p_assets_tests.defs.writeback import (
    clean_env,
    cli,
    fresh_data_dir,
    query,
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


def _row(data: Path, key: str) -> tuple:
    """As users see it: the published warehouse."""
    return query(
        data,
        "SELECT status, attempts, last_error, tracking_id FROM writeback.outbox "
        "WHERE target = ? AND record_key = ?",
        TARGET,
        key,
    )[0]


def _table(text: str) -> list[dict[str, str]]:
    """The rows of `outbox list`'s table, each cell's wrapped lines joined again (the columns are
    where the dashes under the header are)."""
    header, rule, *lines = text.splitlines()[:-1]  # the last line counts the records
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    names = [header[a:b].strip() for a, b in spans]
    rows: list[dict[str, list[str]]] = []
    for line in lines:
        cells = [line[a:b].strip() for a, b in spans]
        if cells[0]:
            rows.append({name: [] for name in names})
        for name, cell in zip(names, cells, strict=True):
            if cell:
                rows[-1][name].append(cell)
    return [{name: " ".join(parts) for name, parts in row.items()} for row in rows]


def _reject_one(data: Path) -> str:
    """One exception in a currency the tenant does not support: Workspace 365 refuses it."""
    victim = record_keys(data, EXPORT)[0]
    with duckdb.connect(str(working(data))) as con:
        con.execute("UPDATE basware.ia_invoice SET CURRENCY_CODE = 'XAF' WHERE ID = ?", [victim])
    synced = cli(clean_env(data), "sync", "workspace365")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "rejected 1" in synced.stdout
    return victim


def test_a_rejected_record_is_listed_with_its_reasons_requeued_and_sent_again(data_dir: Path):
    victim = _reject_one(data_dir)
    env = clean_env(data_dir)
    listed = cli(env, "outbox", "list", TARGET, "--status", "rejected")
    assert listed.returncode == 0, listed.stderr
    (row,) = _table(listed.stdout)
    assert list(row) == ["key", "status", "attempts", "last error", "field errors",
                         "updated at (UTC)"]  # fmt: skip
    assert (row["key"], row["status"], row["attempts"]) == (victim, "rejected", "1")
    assert "refused the record (HTTP 400)" in row["last error"]
    assert row["field errors"] == "Amount: Currency 'XAF' is not supported"  # the vendor's words
    assert listed.stdout.splitlines()[-1].startswith(f"1 record(s) of {TARGET} rejected (outbox: ")
    before = _row(data_dir, victim)

    requeued = cli(env, "outbox", "requeue", TARGET, "--status", "rejected")
    assert requeued.returncode == 0, requeued.stderr
    assert f"Re-queued 1 rejected record(s) of {TARGET}" in requeued.stdout
    status, attempts, note, tracking_id = _row(data_dir, victim)  # published: users see it
    assert (status, attempts) == ("pending", 1)  # attempts kept
    assert note.startswith("re-queued by ") and "from rejected; it was: " in note
    assert "Currency 'XAF'" in note and tracking_id != before[3]
    pending = _table(cli(env, "outbox", "list", TARGET, "--status", "pending").stdout)
    assert [(r["key"], r["last error"]) for r in pending] == [(victim, note)]

    again = cli(env, "sync", "workspace365")  # the tenant still refuses XAF: sent, refused
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 sent now" not in again.stdout and "rejected 1" in again.stdout
    assert _row(data_dir, victim)[:2] == ("rejected", 2)
    assert _sandbox(data_dir).counters()["rejected"] == 2


def test_an_uncertain_record_a_person_checked_is_created_on_the_next_run(data_dir: Path):
    sandbox = _sandbox(data_dir)
    sandbox.set_faults(fail_next=({"status": 503, "count": 1},))  # no record made, no answer
    env = clean_env(data_dir, WORKSPACE365_CONCURRENCY="1")
    first = cli(env, "sync", "workspace365")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "uncertain 1" in first.stdout
    listed = cli(env, "outbox", "list", TARGET)  # by default: what waits for a person
    assert listed.returncode == 0, listed.stderr
    (row,) = _table(listed.stdout)
    assert row["status"] == "uncertain" and "HTTP 503" in row["last error"]
    key = row["key"]
    created = len(sandbox.records())

    requeued = cli(env, "outbox", "requeue", TARGET, "--status", "uncertain", "--key", key)
    assert requeued.returncode == 0, requeued.stderr
    assert "Re-queued 1 uncertain record(s)" in requeued.stdout
    assert "does not hold them already" in requeued.stdout
    resent = cli(env, "sync", "workspace365")
    assert resent.returncode == 0 and "1 sent now" in resent.stdout
    assert len(sandbox.records()) == created + 1
    assert _row(data_dir, key)[:2] == ("sent", 2)


def test_what_cannot_be_requeued_is_refused_and_unknown_targets_are_listed(data_dir: Path):
    env = clean_env(data_dir)
    none_yet = cli(env, "outbox", "list", TARGET)
    assert none_yet.returncode == 2 and "nothing was planned yet" in none_yet.stderr
    assert cli(env, "sync", "workspace365").returncode == 0

    refused = cli(env, "outbox", "requeue", TARGET, "--status", "sent")
    assert refused.returncode == 2
    assert "sent records cannot be re-queued; only rejected, uncertain, failed" in refused.stderr
    unknown = cli(env, "outbox", "list", "workspace365", "--status", "sent")
    assert unknown.returncode == 2
    assert f"no write-back target 'workspace365'; the outbox knows:\n  {TARGET}" in unknown.stderr
    missing = cli(env, "outbox", "requeue", TARGET, "--status", "failed", "--key", "nope")
    assert missing.returncode == 1
    assert f"{TARGET} has no failed record nope; left as it is" in missing.stderr
    assert "Re-queued 0 records" in missing.stdout
    typo = cli(env, "outbox", "list", TARGET, "--status", "rejectd")
    assert typo.returncode == 2 and "no outbox status rejectd; the statuses are" in typo.stderr
    nothing = cli(env, "outbox", "list", TARGET)
    assert nothing.returncode == 0 and nothing.stdout.startswith(f"No record of {TARGET} is ")
    help_text = cli(env, "outbox", "requeue", "--help").stdout
    assert "--status S" in help_text and "--key K" in help_text


def test_a_wrong_timezone_fails_the_sandbox_run_before_anything_is_planned(data_dir: Path):
    result = cli(clean_env(data_dir, WORKSPACE365_TIMEZONE="Amsterdam"), "sync", "workspace365")
    assert result.returncode == 1
    assert "WORKSPACE365_TIMEZONE must be an IANA time zone name" in result.stdout
    assert _sandbox(data_dir).records() == []
