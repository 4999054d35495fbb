"""Basware suppliers and invoices written back to the Boss Insights sandbox, end to end: warehouse
-> `p2p-assets sync boss_insights` in its own process -> Boss Insights sandbox over loopback HTTP
-> its push webhooks -> our webhook receiver -> `boss_insights/sync_events` -> the outbox, in the
real DuckDB file."""

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p2p_assets.defs.boss_insights.assets import PAYABLE_INVOICES, VENDORS
from p2p_assets.lib.webhooks.receiver import EventStore
from p2p_assets.sandbox.boss_insights import (
    SANDBOX_CREDENTIALS,
    BossInsightsConfig,
    BossInsightsSandbox,
)
from p2p_assets_tests.defs.writeback import (
    clean_env,
    cli,
    fresh_data_dir,
    query,
    shared_basware_warehouse,
    shared_live_basware_warehouse,
    working,
)


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_basware_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def live_basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_live_basware_warehouse(tmp_path_factory)


@pytest.fixture
def data_dir(basware_warehouse: Path, tmp_path: Path) -> Path:
    return fresh_data_dir(basware_warehouse, tmp_path)


@pytest.fixture
def live_data_dir(live_basware_warehouse: Path, tmp_path: Path) -> Path:
    return fresh_data_dir(live_basware_warehouse, tmp_path)


def _sandbox(data: Path) -> BossInsightsSandbox:
    """The sandbox's state, to inspect (without a webhook URL, it delivers nothing itself)."""
    return BossInsightsSandbox(BossInsightsConfig(), data / "sandbox" / "boss_insights")


def _outbox(data: Path, target: str) -> dict[str, tuple]:
    rows = query(
        data,
        "SELECT record_key, status, sync_id, tracking_id, field_errors, last_error "
        "FROM writeback.outbox WHERE target = ?",
        target,
    )
    return {r[0]: r[1:] for r in rows}


def _check_passed(data: Path, asset: str, check: str = "no_record_was_rejected") -> bool:
    with dg.DagsterInstance.from_config(str(data / "dagster")) as instance:
        key = dg.AssetCheckKey(dg.AssetKey(["boss_insights", asset]), check)
        (record,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
        return bool(evaluation.passed)


def test_every_record_is_written_once_confirmed_by_its_webhook_and_not_again(data_dir: Path):
    suppliers = query(data_dir, "SELECT ID FROM basware.adm_supplier")
    invoices = query(
        data_dir,
        "SELECT ID, GROSS_SUM, CURRENCY_CODE, SUPPLIER_ID FROM basware.ia_invoice "
        "WHERE REMOVAL_DATE IS NULL",
    )
    assert len(suppliers) > 5 and len(invoices) > 20

    first = cli(clean_env(data_dir), "sync", "boss_insights")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"boss_insights/vendors: {len(suppliers)} sent now" in first.stdout
    assert f"boss_insights/payable_invoices: {len(invoices)} sent now" in first.stdout

    sandbox = _sandbox(data_dir)
    written = sandbox.writes()
    assert len(written) == len(suppliers) + len(invoices)  # each record once
    cdm = sandbox.records("payable_invoice")
    for invoice_id, gross, currency, supplier in invoices:
        record = cdm[invoice_id]
        assert Decimal(record["total"]) == gross * 100  # exact, in cents
        assert (record["currency"], record["vendor_external_id"]) == (currency, supplier)

    # Every write was pushed; every push's webhook reached our receiver once and confirmed it.
    events = EventStore(data_dir / "webhooks" / "events.sqlite3").since(0)
    assert len(events) == len(written)
    assert len({e[1] for e in events}) == len(events)
    for spec, count in ((VENDORS, len(suppliers)), (PAYABLE_INVOICES, len(invoices))):
        outbox = _outbox(data_dir, spec.target)
        assert len(outbox) == count
        assert {row[0] for row in outbox.values()} == {"confirmed"}
    sync_ids = {w["sync_id"] for w in written}
    assert {row[1] for row in _outbox(data_dir, PAYABLE_INVOICES.target).values()} <= sync_ids
    assert query(data_dir, "SELECT count(*) FROM boss_insights.sync_events")[0][0] == len(events)
    assert _check_passed(data_dir, "vendors") and _check_passed(data_dir, "payable_invoices")

    second = cli(clean_env(data_dir), "sync", "boss_insights")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "boss_insights/vendors: 0 sent now" in second.stdout
    assert "boss_insights/payable_invoices: 0 sent now" in second.stdout
    assert len(_sandbox(data_dir).writes()) == len(written)


def _pay(data: Path) -> str:
    """Mark the first invoice paid in Basware (as the next extract would); returns its id."""
    (victim,) = query(data, "SELECT min(ID) FROM basware.ia_invoice")[0]
    with duckdb.connect(str(working(data))) as con:
        con.execute(
            "UPDATE basware.ia_invoice SET STATUS = 'Paid', PAYMENT_DATE = DATE '2026-11-20' "
            "WHERE ID = ?",
            [victim],
        )
    return victim


def test_a_changed_invoice_is_reported_not_posted_again_without_an_update_method(data_dir: Path):
    assert cli(clean_env(data_dir), "sync", "boss_insights").returncode == 0
    writes = len(_sandbox(data_dir).writes())
    victim = _pay(data_dir)
    again = cli(clean_env(data_dir), "sync", "boss_insights")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "boss_insights/payable_invoices: 0 sent now" in again.stdout
    assert "changed_since_sent 1" in again.stdout
    assert len(_sandbox(data_dir).writes()) == writes  # nothing posted twice
    assert _sandbox(data_dir).records("payable_invoice")[victim]["paid_date"] != "2026-11-20"
    (changed,) = query(data_dir, "SELECT record_key, status FROM writeback.outbox "
                       "WHERE changed_since_sent")  # fmt: skip
    assert changed == (victim, "confirmed")
    assert not _check_passed(data_dir, "payable_invoices", "no_change_left_unsent")


def test_with_put_configured_a_changed_invoice_is_updated_once_by_its_cdm_id(data_dir: Path):
    env = clean_env(
        data_dir, BOSS_INSIGHTS_UPDATE="PUT {path}/{id}", P2P_SANDBOX_BOSS_INSIGHTS_POST="create"
    )  # a second POST would duplicate
    assert cli(env, "sync", "boss_insights").returncode == 0
    victim = _pay(data_dir)
    again = cli(env, "sync", "boss_insights")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "boss_insights/payable_invoices: 1 sent now" in again.stdout
    sandbox = _sandbox(data_dir)
    (record,) = [r for r in sandbox.all_records("payable_invoice") if r["external_id"] == victim]
    assert (record["body"]["status"], record["body"]["paid_date"]) == ("Paid", "2026-11-20")
    updates = [w for w in sandbox.writes() if w["method"] == "PUT"]
    assert [(w["external_id"], w["record_id"]) for w in updates] == [(victim, record["id"])]
    status, remote_id = query(data_dir, "SELECT status, remote_id FROM writeback.outbox "
                              "WHERE record_key = ?", victim)[0]  # fmt: skip
    assert (status, remote_id) == ("confirmed", record["id"])
    third = cli(env, "sync", "boss_insights")
    assert "boss_insights/payable_invoices: 0 sent now" in third.stdout
    assert len(_sandbox(data_dir).writes()) == len(sandbox.writes())


def test_a_failed_push_is_kept_for_a_person_and_never_posted_again(data_dir: Path) -> None:
    _sandbox(data_dir).set_faults(failed_pushes=1)
    env = clean_env(data_dir, P2P_SANDBOX_BOSS_INSIGHTS_DESTINATIONS="quickbooks,hubspot",
                    P2P_SANDBOX_BOSS_INSIGHTS_WEBHOOK_LAYOUT="results")  # fmt: skip
    first = cli(env, "sync", "boss_insights")
    assert first.returncode == 0, first.stdout + first.stderr
    (failed,) = query(data_dir, "SELECT record_key, last_error FROM writeback.outbox "
                      "WHERE status = 'push_failed'")  # fmt: skip
    assert failed[1] == "Boss Insights push failed: hubspot: the application refused the record"
    assert not _check_passed(data_dir, "vendors", "no_push_failed_or_unknown")
    writes = len(_sandbox(data_dir).writes())
    second = cli(env, "sync", "boss_insights")
    assert second.returncode == 0 and len(_sandbox(data_dir).writes()) == writes
    assert "push_failed 1" in second.stdout


def test_a_mapping_naming_an_unknown_column_fails_the_asset_naming_both(data_dir, tmp_path):
    mine = tmp_path / "mappings"
    mine.mkdir()
    (mine / "vendors.fields.toml").write_text(
        (VENDORS.mapping.read_text()).replace('column = "name"', 'column = "supplier_name"')
    )
    result = cli(clean_env(data_dir, BOSS_INSIGHTS_MAPPING_DIR=str(mine)),
                 "sync", "boss_insights")  # fmt: skip
    assert result.returncode == 1
    assert (
        f"{mine / 'vendors.fields.toml'}: [name] reads column 'supplier_name', which "
        "p2p_assets/dbt/models/exports/boss_insights_vendors.sql does not return"
    ) in result.stdout + result.stderr
    assert _sandbox(data_dir).writes() == []  # refused before anything was planned or sent
    (mine / "vendors.fields.toml").write_text(
        VENDORS.mapping.read_text().replace("[tax_number]", "[vat_number]")  # renamed field
    )
    renamed = cli(clean_env(data_dir, BOSS_INSIGHTS_MAPPING_DIR=str(mine)),
                  "sync", "boss_insights")  # fmt: skip
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    assert all("vat_number" in r for r in _sandbox(data_dir).records("vendor").values())


def test_a_field_error_from_boss_insights_is_kept_with_the_field_and_message(data_dir: Path):
    (victim,) = query(data_dir, "SELECT min(ID) FROM basware.ia_invoice")[0]
    with duckdb.connect(str(working(data_dir))) as con:
        # A supplier id Basware has no supplier for: our validation cannot know, the CDM refuses.
        con.execute("UPDATE basware.ia_invoice SET SUPPLIER_ID = 'NO-SUCH' WHERE ID = ?", [victim])
    result = cli(clean_env(data_dir), "sync", "boss_insights")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rejected 1" in result.stdout
    status, sync_id, _, field_errors, last_error = _outbox(data_dir, PAYABLE_INVOICES.target)[
        victim
    ]
    assert (status, sync_id) == ("rejected", None)
    assert json.loads(field_errors) == {
        "vendor_external_id": "no vendor with external_id 'NO-SUCH'"
    }
    assert "Validation failed" in last_error
    assert victim not in _sandbox(data_dir).records("payable_invoice")
    assert not _check_passed(data_dir, "payable_invoices")
    assert _check_passed(data_dir, "vendors")
    statuses = [row[0] for row in _outbox(data_dir, PAYABLE_INVOICES.target).values()]
    assert statuses.count("confirmed") == len(statuses) - 1  # the others went through


def test_a_crash_after_boss_insights_accepted_never_writes_twice(data_dir: Path) -> None:
    crashed = cli(clean_env(data_dir, P2P_WRITEBACK_CRASH_AFTER_ACCEPTED="3"),
                  "sync", "boss_insights")  # fmt: skip
    assert crashed.returncode == 70  # died between Boss Insights' yes and our record of it
    assert len(_sandbox(data_dir).writes()) >= 3  # and other calls in flight (concurrency 4)

    resumed = cli(clean_env(data_dir), "sync", "boss_insights")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    written = [(w["object"], w["external_id"]) for w in _sandbox(data_dir).writes()]
    assert len(written) == len(set(written))  # nothing written twice
    # The vendors written before the crash were held as uncertain, then confirmed by their
    # webhooks (delivered by the next process's sandbox), matched by our tracking ids. A vendor
    # claimed but not yet sent when the process died stays uncertain, for a person: never sent
    # again blindly. The resumed run sent every other vendor.
    vendors = _outbox(data_dir, VENDORS.target)
    sent = {key for obj, key in written if obj == "vendor"}
    assert {k for k, row in vendors.items() if row[0] == "confirmed"} == sent
    unsent = {k for k, row in vendors.items() if row[0] == "uncertain"}
    assert unsent == set(vendors) - sent and len(unsent) < 4
    events = EventStore(data_dir / "webhooks" / "events.sqlite3").since(0)
    assert len(events) == len(written)


def test_live_mode_never_sends_sandbox_data(data_dir: Path) -> None:
    sandbox = _sandbox(data_dir)
    with sandbox.serve() as url:
        env = clean_env(
            data_dir,
            BOSS_INSIGHTS_URL=f"{url}/api",
            BOSS_INSIGHTS_VENDOR_PATH="/vendors",
            BOSS_INSIGHTS_PAYABLE_INVOICE_PATH="/payable-invoices",
            **{f"BOSS_INSIGHTS_{k.upper()}": v for k, v in SANDBOX_CREDENTIALS.items()},
        )
        refused = cli(env, "sync", "boss_insights")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Basware data from the Basware sandbox; refusing to send it" in refused.stdout
    assert sandbox.writes() == []


def test_wrong_credentials_are_refused_and_nothing_is_lost(live_data_dir: Path) -> None:
    data_dir = live_data_dir
    sandbox = _sandbox(data_dir)
    with sandbox.serve() as url:
        base = {
            "BOSS_INSIGHTS_URL": f"{url}/api",
            "BOSS_INSIGHTS_USERNAME": SANDBOX_CREDENTIALS["username"],
            "BOSS_INSIGHTS_ACCOUNT_KEY": SANDBOX_CREDENTIALS["account_key"],
        }
        no_paths = cli(clean_env(data_dir, **base, BOSS_INSIGHTS_PASSWORD="x"),
                       "sync", "boss_insights")  # fmt: skip
        assert no_paths.returncode == 2  # refused before anything runs
        assert "BOSS_INSIGHTS_VENDOR_PATH is not set" in no_paths.stderr
        base.update(BOSS_INSIGHTS_VENDOR_PATH="/vendors",
                    BOSS_INSIGHTS_PAYABLE_INVOICE_PATH="/payable-invoices")  # fmt: skip
        wrong = cli(clean_env(data_dir, **base, BOSS_INSIGHTS_PASSWORD="wrong-password-123"),
                    "sync", "boss_insights")  # fmt: skip
        assert wrong.returncode == 1
        output = wrong.stdout + wrong.stderr
        assert "HTTP 401" in output and "wrong-password-123" not in output
        assert sandbox.writes() == []
        assert {row[0] for row in _outbox(data_dir, VENDORS.target).values()} == {
            "failed", "pending",
        }  # fmt: skip
        right = cli(clean_env(data_dir, **base, BOSS_INSIGHTS_PASSWORD=SANDBOX_CREDENTIALS[
            "password"]), "sync", "boss_insights")  # fmt: skip
        assert right.returncode == 0, right.stdout + right.stderr
    suppliers = query(data_dir, "SELECT count(*) FROM basware.adm_supplier")[0][0]
    assert sum(1 for w in sandbox.writes() if w["object"] == "vendor") == suppliers
