"""Boss Insights in live mode: the Boss Insights sandbox and our webhook receiver each served as
its own process, the product configured only by `BOSS_INSIGHTS_*` variables and run as
`p2p-assets sync` in a subprocess, webhooks travelling over loopback HTTP from the sandbox process
to the receiver process. Each webhook shape the manual leaves open ends in the right outbox
status; a changed record is reported until an update method is configured, then updated once; a
malformed event never stops the others from confirming their records."""

import json
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from p2p_assets.sandbox.boss_insights import (
    SANDBOX_CREDENTIALS,
    SANDBOX_WEBHOOK_CREDENTIALS,
    BossInsightsConfig,
    BossInsightsSandbox,
)
from p2p_assets_tests.defs.writeback import (
    record_exports_built,
    shared_live_basware_warehouse,
    working,
)
from p2p_assets_tests.live.conftest import CLI, Product, Served, output

VENDORS, INVOICES = "boss_insights:vendor", "boss_insights:payable_invoice"


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Basware data loaded in live mode (the only data a live target may be sent)."""
    return shared_live_basware_warehouse(tmp_path_factory)


@pytest.fixture
def installed(product, basware_warehouse: Path) -> Callable[..., Product]:
    """`installed(**VARIABLES)`: a product whose warehouse holds the live Basware data."""

    def make(**variables: str) -> Product:
        user = product(**variables)
        user.data_dir.mkdir(parents=True)
        shutil.copyfile(basware_warehouse, user.warehouse)
        record_exports_built(user.data_dir)
        return user

    return make


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Callable[[Product], str]]:
    """`receiver(product)`: `p2p-assets webhooks serve` for that installation, as its own
    process with the sandbox's webhook credentials; returns its URL."""
    started: list[tuple[subprocess.Popen, threading.Thread]] = []

    def start(user: Product) -> str:
        username, password = SANDBOX_WEBHOOK_CREDENTIALS
        process = subprocess.Popen(
            [*CLI, "webhooks", "serve", "--port", "0"],
            env={**user.env, "P2P_WEBHOOK_USERNAME": username, "P2P_WEBHOOK_PASSWORD": password},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline()
        reader = threading.Thread(target=process.stdout.read, daemon=True)  # never a full pipe
        reader.start()
        started.append((process, reader))
        found = re.search(r"http://[\w.\[\]:-]+:\d+", first)
        assert found, first
        return found.group(0)

    yield start
    for process, reader in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        assert process.stdout is not None
        process.stdout.close()


def live_env(served: Served, **extra: str) -> dict[str, str]:
    return {
        "BOSS_INSIGHTS_URL": f"{served.url}/api",
        **{f"BOSS_INSIGHTS_{k.upper()}": v for k, v in SANDBOX_CREDENTIALS.items()},
        "BOSS_INSIGHTS_VENDOR_PATH": "/vendors",
        "BOSS_INSIGHTS_PAYABLE_INVOICE_PATH": "/payable-invoices",
        **extra,
    }


def truth(served: Served) -> BossInsightsSandbox:
    """The served sandbox's state, opened to inspect (without a webhook URL it delivers none)."""
    return BossInsightsSandbox(BossInsightsConfig(), served.state_dir)


def wait_for_webhooks(served: Served, timeout: float = 90) -> None:
    """Until every push of the sandbox process has had its webhooks answered by the receiver."""
    deadline = time.monotonic() + timeout
    while True:
        pushes = truth(served).pushes()
        if pushes and all(p["state"] != "pending" for p in pushes):
            break
        assert time.monotonic() < deadline, f"webhooks still pending: {pushes[:3]}"
        time.sleep(0.2)
    assert {p["state"] for p in pushes} == {"delivered"}, served.lines[-5:]


def unfolded(user: Product) -> bool:
    """Whether the receiver's store holds events the warehouse has not folded yet."""
    db = sqlite3.connect(user.data_dir / "webhooks" / "events.sqlite3")
    try:
        (stored,) = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    finally:
        db.close()
    (folded,) = user.query("SELECT coalesce(max(seq), 0) FROM boss_insights.sync_events")[0]
    return stored > folded


def sync_and_fold(user: Product, served: Served) -> subprocess.CompletedProcess[str]:
    """Write what is new and wait for its webhooks; sync again if some arrived after the sync
    folded (the sync folds after it writes, so usually it has them all)."""
    result = user.sync("boss_insights")
    assert result.returncode == 0, output(result)
    wait_for_webhooks(served)
    if unfolded(user):
        result = user.sync("boss_insights")
        assert result.returncode == 0, output(result)
    assert not unfolded(user)
    return result


def statuses(user: Product, target: str) -> dict[str, tuple[str, str | None]]:
    rows = user.query(
        "SELECT record_key, status, last_error FROM writeback.outbox WHERE target = ?", [target]
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def counts(user: Product, target: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for status, _ in statuses(user, target).values():
        found[status] = found.get(status, 0) + 1
    return found


# sandbox variant, product variables, the failed push's status and its message (None: every
# record ends there), or the status every record ends in.
SHAPES = {
    "nested": ({}, {}, "push_failed", "the application refused the record"),
    "nested_boolean": ({"outcome_field": "success"}, {}, "push_failed", None),
    "top_level_rejected": (
        {"webhook_layout": "top_level", "failure_status": "rejected"},
        {"BOSS_INSIGHTS_WEBHOOK_OUTCOME_PATH": "status"},
        "push_failed",
        "the application refused the record",
    ),  # fmt: skip
    "top_level_outcome_not_configured": (
        {"webhook_layout": "top_level"},
        {},
        "unknown_outcome",
        None,
    ),  # fmt: skip
    "nested_success_false_not_configured": (
        {"outcome_field": "result.success"},
        {},
        "unknown_outcome",
        None,
    ),  # fmt: skip
    "nested_success_false_configured": (
        {"outcome_field": "result.success"},
        {"BOSS_INSIGHTS_WEBHOOK_OUTCOME_PATH": "data.result.success"},
        "push_failed",
        None,
    ),  # fmt: skip
    "headers": ({"webhook_layout": "headers"}, {}, "push_failed", None),
    "results_one_destination_failed": (
        {"webhook_layout": "results", "destinations": "quickbooks,hubspot"},
        {},
        "push_failed",
        "hubspot: the application refused the record",
    ),  # fmt: skip
    "one_event_per_destination_failure_first": (
        {
            "webhook_layout": "per_destination",
            "destinations": "quickbooks,hubspot",
            "failing_destination": "quickbooks",
        },
        {"BOSS_INSIGHTS_DESTINATIONS": "quickbooks,hubspot"},
        "push_failed",
        "quickbooks: the application refused the record",
    ),  # fmt: skip
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_webhook_shape_ends_in_the_right_outbox_status(
    shape: str, serve, installed, receiver
) -> None:
    variant, variables, failed_status, message = SHAPES[shape]
    user = installed()
    served = serve("boss_insights", webhook_url=receiver(user), **variant)
    served.faults(failed_pushes=2)  # the first two pushes (two vendors) fail
    user.env.update(live_env(served, **variables))
    sync_and_fold(user, served)

    vendors, invoices = statuses(user, VENDORS), statuses(user, INVOICES)
    assert len(truth(served).writes()) == len(vendors) + len(invoices)  # each written once
    if failed_status == "unknown_outcome":  # not where we look: nothing is ever confirmed
        assert {s for s, _ in [*vendors.values(), *invoices.values()]} == {"unknown_outcome"}
        return
    failed = {k: v for k, v in vendors.items() if v[0] != "confirmed"}
    assert len(failed) == 2 and {s for s, _ in failed.values()} == {failed_status}
    for _, error in failed.values():
        assert error.startswith("Boss Insights push failed: ")
        assert message is None or message in error
    assert {s for s, _ in invoices.values()} == {"confirmed"}
    problems = user.query("SELECT count(*) FROM boss_insights.sync_events WHERE problem IS NULL")
    assert problems[0][0] >= len(vendors) + len(invoices)


def _pay(user: Product) -> str:
    with duckdb.connect(str(working(user.data_dir)), read_only=True) as con:
        (victim,) = con.execute("SELECT min(ID) FROM basware.ia_invoice").fetchone()
    with duckdb.connect(str(working(user.data_dir))) as con:
        con.execute(
            "UPDATE basware.ia_invoice SET PAYMENT_DATE = DATE '2026-11-20' WHERE ID = ?",
            [victim],
        )
    return victim


def test_a_changed_record_is_reported_until_put_is_configured_then_updated_once(
    serve, installed, receiver
) -> None:
    user = installed()
    served = serve("boss_insights", webhook_url=receiver(user), post="create")  # POST duplicates
    user.env.update(live_env(served))
    sync_and_fold(user, served)
    written = len(truth(served).writes())
    victim = _pay(user)

    reported = user.sync("boss_insights")
    assert reported.returncode == 0, output(reported)
    assert "boss_insights/payable_invoices: 0 sent now" in reported.stdout
    assert "changed_since_sent 1" in reported.stdout
    assert len(truth(served).writes()) == written  # not posted again: no duplicate

    user.env["BOSS_INSIGHTS_UPDATE"] = "PUT {path}/{id}"
    updated = user.sync("boss_insights")
    assert updated.returncode == 0, output(updated)
    assert "boss_insights/payable_invoices: 1 sent now" in updated.stdout
    wait_for_webhooks(served)
    again = user.sync("boss_insights")  # folds the update's webhook, if it came late
    assert "boss_insights/payable_invoices: 0 sent now" in again.stdout
    cdm = truth(served)
    copies = [r for r in cdm.all_records("payable_invoice") if r["external_id"] == victim]
    assert len(copies) == 1 and copies[0]["body"]["paid_date"] == "2026-11-20"
    assert [w["method"] for w in cdm.writes() if w["external_id"] == victim] == ["POST", "PUT"]
    assert len(cdm.writes()) == written + 1
    assert statuses(user, INVOICES)[victim][0] == "confirmed"


def test_post_configured_against_an_upserting_cdm_updates_in_place(
    serve, installed, receiver
) -> None:
    user = installed(BOSS_INSIGHTS_UPDATE="POST")
    served = serve("boss_insights", webhook_url=receiver(user))  # POST upserts (the default)
    user.env.update(live_env(served))
    sync_and_fold(user, served)
    victim = _pay(user)
    sync_and_fold(user, served)
    cdm = truth(served)
    copies = [r for r in cdm.all_records("payable_invoice") if r["external_id"] == victim]
    assert len(copies) == 1 and copies[0]["body"]["paid_date"] == "2026-11-20"
    assert [w["method"] for w in cdm.writes() if w["external_id"] == victim] == ["POST", "POST"]
    assert statuses(user, INVOICES)[victim][0] == "confirmed"


def _store_as_an_old_receiver_did(user: Product, body_text: str, request_id: str) -> None:
    """An event stored without the checks today's receiver makes at the door (an older
    receiver stored a lone surrogate as its JSON escape)."""
    path = user.data_dir / "webhooks" / "events.sqlite3"
    db = sqlite3.connect(path)
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(events)")}
        values = {"request_id": request_id, "event": "api_push_update",
                  "received_at": "2026-11-22T10:00:00+00:00", "body": body_text,
                  "event_key": f"old-{request_id}", "headers": "{}"}  # fmt: skip
        kept = {k: v for k, v in values.items() if k in columns}
        db.execute(
            f"INSERT INTO events ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})",
            list(kept.values()),
        )
        db.commit()
    finally:
        db.close()


def test_malformed_events_never_stop_later_events_from_confirming(
    serve, installed, receiver
) -> None:
    user = installed()
    url = receiver(user)
    auth = SANDBOX_WEBHOOK_CREDENTIALS
    surrogate = b'{"event": "api_push_update", "requestId": "s-1", "message": "\\ud800"}'
    at_the_door = httpx.post(url, content=surrogate, auth=auth,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert at_the_door.status_code in (200, 400)  # refused at the door, or kept to quarantine
    wrong_types = {
        "event": "api_push_update",
        "requestId": "w-1",
        "data": {"trackingId": {"id": 1}, "syncId": ["x"], "status": ["success"]},
    }
    assert httpx.post(url, json=wrong_types, auth=auth).status_code == 200
    _store_as_an_old_receiver_did(
        user, '{"event": "api_push_update", "requestId": "s-2", "message": "\\ud800"}', "s-2"
    )
    served = serve("boss_insights", webhook_url=url)
    user.env.update(live_env(served))
    first = user.sync("boss_insights")  # folds the bad events before any webhook of ours
    assert first.returncode == 0, output(first)
    bad = 2 + (at_the_door.status_code == 200)
    assert f"{bad} event(s) with a problem (boss_insights.sync_events.problem)" in first.stdout
    wait_for_webhooks(served)
    second = user.sync("boss_insights")
    assert second.returncode == 0, output(second)
    assert counts(user, VENDORS) == {"confirmed": len(statuses(user, VENDORS))}
    assert counts(user, INVOICES) == {"confirmed": len(statuses(user, INVOICES))}
    problems = dict(user.query(
        "SELECT request_id, problem FROM boss_insights.sync_events WHERE problem IS NOT NULL"
    ))  # fmt: skip
    assert "tracking id at data.trackingId is dict" in problems["w-1"]
    assert problems["s-2"].startswith("lone surrogates (not text) replaced")
    if at_the_door.status_code == 200:
        assert problems["s-1"].startswith("lone surrogates")
    third = user.sync("boss_insights")  # and the run after that still folds
    assert third.returncode == 0, output(third)
    body = user.query("SELECT body FROM boss_insights.sync_events WHERE request_id = 's-2'")
    assert json.loads(body[0][0])["message"] == "\ufffd"
