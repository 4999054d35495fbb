"""The Visma business types end to end: sandbox over loopback HTTP, Dagster jobs, a real DuckDB."""

import hashlib
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb

from p2p_assets import settings
from p2p_assets.definitions import defs
from p2p_assets.defs.visma.assets import asset_key
from p2p_assets.headless import sync_visma
from p2p_assets.lib.warehouse import snapshots
from p2p_assets.sandbox.visma import data
from p2p_assets_tests.defs.visma.conftest import materialise


def _warehouse() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(snapshots.ensure_working(snapshots.layout())), read_only=True)


def _check_results(instance: dg.DagsterInstance) -> dict[str, bool]:
    """The latest evaluation of each Visma asset check, passed or not."""
    results = {}
    for type_id, name in ((134001, "payments_match_control_sums"), (113003, "journals_balance")):
        key = dg.AssetCheckKey(asset_key(type_id), name)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        if history and history[0].event and history[0].event.dagster_event:
            evaluation = history[0].event.dagster_event.event_specific_data
            results[name] = evaluation.passed  # type: ignore[union-attr]
    return results


def test_sync_loads_every_business_type_then_nothing(visma_sandbox, instance):
    sandbox = visma_sandbox()
    report = sync_visma(defs, instance)
    assert report.success, report.render()
    listed = sandbox.files()
    # RST Functie (101002) is a full snapshot: only the newest of its two files is loaded.
    assert report.skipped_snapshots == {101002: 1}
    assert len(report.outcomes) == len(listed) - 1

    with _warehouse() as con:
        files = con.execute(
            "SELECT file_id, sha256, landing_path, format FROM visma.files"
        ).fetchall()
        assert len(files) == len(listed) - 1
        for file_id, sha256, landing_path, _format in files:
            expected = sandbox.file_bytes(file_id)
            assert Path(landing_path).read_bytes() == expected  # byte-exact, kept under data/
            assert sha256 == hashlib.sha256(expected).hexdigest()
        formats = dict(
            con.execute(
                "SELECT business_type_id, any_value(format) FROM visma.files GROUP BY 1"
            ).fetchall()
        )
        assert formats[134001] == "pain001" and formats[113003] == "journal_postings"
        assert formats[7101] is None  # unknown format: inventoried, not parsed

        # SEPA: the stored transfers add up to the files' own control sums.
        sums = con.execute(
            "SELECT c.file_id, c.number_of_transactions, c.control_sum, count(*), sum(p.amount) "
            "FROM visma.sepa_control_sums c JOIN visma.sepa_payments p USING (file_id) "
            "WHERE c.level = 'message' GROUP BY ALL"
        ).fetchall()
        assert len(sums) == 3
        for _file_id, stated_n, stated_sum, n, total in sums:
            assert (stated_n, stated_sum) == (n, total)
            assert isinstance(total, Decimal)

        # Journals balance to the cent.
        unbalanced = con.execute(
            "SELECT count(*) FROM (SELECT file_id, journal FROM visma.journal_postings "
            "GROUP BY ALL HAVING sum(amount) <> 0)"
        ).fetchone()
        assert unbalanced == (0,)

        # Snapshot: the current table is the newest file, whole.
        newest = max(
            (f for f in listed if f["business_type"] == 101002), key=lambda f: f["upload_date"]
        )
        current = con.execute("SELECT DISTINCT file_id FROM visma.rst_functie").fetchall()
        assert current == [(newest["id"],)]

        # Mutations: applied in upload order, the state equals the sandbox's own replay.
        state = dict(
            con.execute(
                "SELECT employee_id, new_value FROM visma.employee_mutations "
                "WHERE field = 'department'"
            ).fetchall()
        )
        truth = data.employee_departments(sandbox.config, sandbox.config.files_per_type[101100])
        assert state == {e: d for e, d in truth.items() if e in state}
        assert len(state) > 3

    checks = _check_results(instance)
    assert checks == {"payments_match_control_sums": True, "journals_balance": True}

    downloads = sandbox.counters().get("downloads", 0)
    again = sync_visma(defs, instance)
    assert again.success and again.outcomes == []
    assert sandbox.counters().get("downloads", 0) == downloads


def test_rematerialising_a_file_changes_nothing_and_downloads_nothing(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={134001: 2, 101100: 2})
    assert sync_visma(defs, instance).success

    def snapshot() -> list:
        with _warehouse() as con:
            return [
                con.execute(f"SELECT * EXCLUDE (loaded_at) FROM visma.{t} ORDER BY ALL").fetchall()
                if t == "files"
                else con.execute(f"SELECT * FROM visma.{t} ORDER BY ALL").fetchall()
                for t in ("files", "sepa_payments", "sepa_control_sums", "employee_mutations")
            ]

    before, downloads = snapshot(), sandbox.counters()["downloads"]
    for row in sandbox.files():
        assert materialise(instance, row["business_type"], row["id"]).success
    assert snapshot() == before
    assert sandbox.counters()["downloads"] == downloads


def test_a_fifty_file_delivery_lands_once_byte_exact(visma_sandbox, instance):
    # The subscriber list shrinks while files are downloaded; listing every page first means
    # nothing is skipped. Pages of 1,000 would hide the problem, so the sandbox gets 50 files.
    sandbox = visma_sandbox(files_per_type={7101: 50})
    report = sync_visma(defs, instance)
    assert report.success, report.render()
    assert len(report.outcomes) == 50 and all(o.downloaded for o in report.outcomes)
    assert sandbox.counters()["downloads"] == 50
    with _warehouse() as con:
        for file_id, landing_path in con.execute(
            "SELECT file_id, landing_path FROM visma.files"
        ).fetchall():
            assert Path(landing_path).read_bytes() == sandbox.file_bytes(file_id)
        assert con.execute("SELECT count(DISTINCT file_id) FROM visma.files").fetchone() == (50,)


def test_a_cut_connection_resumes_the_download(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={134001: 1}, large_file_bytes=3_000_000)
    sandbox.set_faults(drop_next_downloads=2, drop_after_bytes=700_000)
    report = sync_visma(defs, instance)
    assert report.success, report.render()
    large = next(f for f in sandbox.files() if f["name"] == "sandbox_large_file.csv")
    with _warehouse() as con:
        (path,) = con.execute(
            "SELECT landing_path FROM visma.files WHERE file_id = ?", [large["id"]]
        ).fetchone()
    assert Path(path).read_bytes() == Path(large["path"]).read_bytes()


def test_mutations_apply_strictly_oldest_first(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={101100: 3})
    from p2p_assets.defs.resources import configured
    from p2p_assets.defs.visma.sensors import plan_listing
    from p2p_assets.lib.visma.discovery import list_available

    with configured("visma").get_client() as client:
        listing = list_available(client, (101100,))
    for type_id, keys in plan_listing(listing, instance).new_partitions.items():
        instance.add_dynamic_partitions(f"visma_{type_id}_file", keys)
    oldest, middle, newest = listing.files[101100]

    refused = materialise(instance, 101100, newest.file_id)
    assert not refused.success
    message = _failure(refused)
    assert "oldest first" in message and oldest.file_name in message

    for file in (oldest, middle, newest):
        assert materialise(instance, 101100, file.file_id).success
    with _warehouse() as con:
        state = dict(
            con.execute("SELECT employee_id, new_value FROM visma.employee_mutations").fetchall()
        )
        order = con.execute("SELECT file_id FROM visma.files ORDER BY upload_date").fetchall()
    assert [r[0] for r in order] == [oldest.file_id, middle.file_id, newest.file_id]
    truth = data.employee_departments(sandbox.config, 3)
    assert state == {e: d for e, d in truth.items() if e in state}


def test_a_corrupt_payment_file_fails_alone_and_loads_after_the_fix(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={134001: 3})
    bad = sandbox.files()[1]
    sandbox.set_faults(corrupt_files={bad["name"]: "garbage"})
    report = sync_visma(defs, instance)
    assert not report.success
    (failed,) = [o for o in report.outcomes if not o.success]
    assert failed.file_id == bad["id"]
    assert bad["name"] in failed.error and "Visma" in failed.error
    rejected = list((settings.landing_dir("visma") / "134001" / bad["id"]).glob("rejected/*"))
    assert len(rejected) == 1  # the raw file is kept for a person
    with _warehouse() as con:
        loaded = {r[0] for r in con.execute("SELECT file_id FROM visma.files").fetchall()}
        in_payments = {
            r[0] for r in con.execute("SELECT DISTINCT file_id FROM visma.sepa_payments").fetchall()
        }
    assert bad["id"] not in loaded | in_payments  # nothing of it, the others complete
    assert len(loaded) == 2

    sandbox.clear_faults()
    # Downloaded once, it is off Visma's list; the next sync retries it from the catalogue.
    healed = sync_visma(defs, instance)
    assert healed.success, healed.render()
    assert [o.file_id for o in healed.outcomes] == [bad["id"]]
    assert healed.outcomes[0].downloaded  # a fresh copy
    with _warehouse() as con:
        assert con.execute("SELECT count(*) FROM visma.files").fetchone() == (3,)
    assert sync_visma(defs, instance).outcomes == []  # and then nothing


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data:
            data_ = event.step_failure_data
            if data_.user_failure_data and data_.user_failure_data.description:
                return data_.user_failure_data.description
            return data_.error.message if data_.error else ""
    return ""
