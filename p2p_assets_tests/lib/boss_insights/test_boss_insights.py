"""The Boss Insights client against its sandbox over loopback HTTP: synchronous CDM writes, the
tracking id echoed, the async push and its webhook with Basic auth and three retries, validation,
faults, and CDM records converted from warehouse rows exactly."""

import base64
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from p2p_assets.lib.boss_insights.client import (
    BossInsightsAuthError,
    BossInsightsClient,
    BossInsightsRejectedError,
    BossInsightsUncertainError,
)
from p2p_assets.lib.boss_insights.records import CdmField, Kind, to_record
from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import (
    BossInsightsConfig,
    BossInsightsSandbox,
    FailRule,
    RejectRule,
)
from p2p_assets.sandbox.http import Request, Response, Router

VENDOR = {"external_id": "S-1", "name": "Bakkerij de Vries BV"}
INVOICE = {"external_id": "I-1", "vendor_external_id": "S-1", "number": "2026-001",
           "total": 123456, "currency": "EUR", "due_date": "2026-12-01"}  # fmt: skip


class WebhookStub:
    """A webhook endpoint that fails the first `failures` deliveries."""

    def __init__(self, failures: int):
        self.failures = failures
        self.received: list[Request] = []
        self.lock = threading.Lock()

    def app(self) -> Router:
        router = Router()
        router.add("POST", "/hooks/boss", self.receive)
        return router

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.received.append(request)
            failing = len(self.received) <= self.failures
        return Response.json({}, 500 if failing else 200)


def _client(url: str, config: BossInsightsConfig, **kwargs) -> BossInsightsClient:
    return BossInsightsClient(url, config.username, config.password, config.account_key, **kwargs)


def test_a_pushed_write_is_confirmed_by_a_webhook_retried_until_200(tmp_path: Path) -> None:
    stub = WebhookStub(failures=2)
    with http.serve(stub.app()) as hooks:
        config = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss")
        sandbox = BossInsightsSandbox(config, tmp_path)
        with sandbox.serve() as url, _client(url, config, sync_sources="accounting") as client:
            written = client.write("/api/vendors", VENDOR, tracking_id="trk-1")
            assert sandbox.drain()
    assert written.tracking_id == "trk-1" and written.sync_id
    assert sandbox.records("vendor") == {"S-1": VENDOR}  # written synchronously
    assert [a["status"] for a in sandbox.webhook_attempts()] == ["500", "500", "200"]
    first = stub.received[0]
    assert {r.json()["requestId"] for r in stub.received} == {first.json()["requestId"]}
    payload = first.json()
    assert set(payload) == {"event", "requestId", "domain", "message", "data"}
    assert payload["data"]["trackingId"] == "trk-1"
    assert payload["data"]["syncId"] == written.sync_id
    assert "accounting" in payload["message"]
    expected = base64.b64encode(b"p2p-webhooks:sandbox-webhook-password").decode()
    assert first.headers["authorization"] == f"Basic {expected}"
    assert sandbox.pushes()[0]["state"] == "delivered"


def test_a_webhook_is_retried_three_times_then_given_up(tmp_path: Path) -> None:
    stub = WebhookStub(failures=10)
    with http.serve(stub.app()) as hooks:
        config = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss")
        sandbox = BossInsightsSandbox(config, tmp_path)
        with sandbox.serve() as url, _client(url, config) as client:
            client.write("/api/vendors", VENDOR, tracking_id="trk-2")
            assert sandbox.drain()
    assert len(stub.received) == 4  # the first delivery and three retries
    assert sandbox.pushes()[0]["state"] == "given_up"


def test_a_push_left_by_a_stopped_process_is_delivered_by_the_next(tmp_path: Path) -> None:
    stub = WebhookStub(failures=0)
    with http.serve(stub.app()) as hooks:
        # A push that was due an hour from now was never delivered by its (stopped) process ...
        slow = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss", push_delay_seconds=3600)
        with BossInsightsSandbox(slow, tmp_path).serve() as url, _client(url, slow) as client:
            client.write("/api/vendors", VENDOR, tracking_id="trk-3")
        assert stub.received == []
        # ... a sandbox opened on the same state dir delivers it, once.
        config = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss")
        again = BossInsightsSandbox(config, tmp_path)
        assert again.drain()
    assert [r.json()["data"]["trackingId"] for r in stub.received] == ["trk-3"]


def test_refusals(tmp_path: Path) -> None:
    config = BossInsightsConfig()
    sandbox = BossInsightsSandbox(config, tmp_path / "a")
    with sandbox.serve() as url:
        wrong = BossInsightsClient(url, config.username, config.password, "other-key")
        with wrong, pytest.raises(BossInsightsAuthError, match="401"):
            wrong.write("/api/vendors", VENDOR, "t")
        with _client(url, config) as client:
            with pytest.raises(BossInsightsRejectedError) as caught:
                client.write("/api/payable-invoices", {"external_id": "I-1"}, "t")
            assert set(caught.value.field_errors) == {
                "vendor_external_id", "number", "total", "currency",
            }  # fmt: skip
            with pytest.raises(BossInsightsRejectedError) as caught:  # the vendor is not there
                client.write("/api/payable-invoices", {**INVOICE, "total": 12.5}, "t")
            assert caught.value.field_errors == {
                "total": "must be an integer (amounts in minor units)",
                "vendor_external_id": "no vendor with external_id 'S-1'",
            }
            client.write("/api/vendors", VENDOR, "t")
            client.write("/api/payable-invoices", INVOICE, "t")
            plain = _client(url, config, push=False)
            with plain:
                assert plain.write("/api/vendors", VENDOR, "t").sync_id is None
    assert list(sandbox.records("payable_invoice")) == ["I-1"]
    read_only = BossInsightsConfig(scopes=("api.read",))
    with BossInsightsSandbox(read_only, tmp_path / "b").serve() as url:
        with _client(url, read_only) as client, pytest.raises(BossInsightsAuthError, match="write"):
            client.write("/api/vendors", VENDOR, "t")


def test_faults(tmp_path: Path) -> None:
    config = BossInsightsConfig()
    sandbox = BossInsightsSandbox(config, tmp_path)
    with sandbox.serve() as url, _client(url, config) as client:
        sandbox.set_faults(fail_next=(FailRule(503),))
        with pytest.raises(BossInsightsUncertainError, match="503"):
            client.write("/api/vendors", VENDOR, "t-1")
        assert sandbox.records("vendor") == {}  # a 5xx writes nothing
        sandbox.set_faults(reject_next=(RejectRule("name", "name is already used"),))
        with pytest.raises(BossInsightsRejectedError) as caught:
            client.write("/api/vendors", VENDOR, "t-2")
        assert caught.value.field_errors == {"name": "name is already used"}
        sandbox.set_faults(drop_after_write=1)
        with pytest.raises(BossInsightsUncertainError, match="no answer"):
            client.write("/api/vendors", VENDOR, "t-3")
        assert [w["tracking_id"] for w in sandbox.writes()] == ["t-3"]  # written, not answered
        client.write("/api/vendors", VENDOR, "t-4")  # the faults are used up
    assert [w["tracking_id"] for w in sandbox.writes()] == ["t-3", "t-4"]


def test_records_are_converted_exactly_and_validated_before_sending() -> None:
    fields = (
        CdmField("external_id", Kind.TEXT, "id", required=True),
        CdmField("total", Kind.MINOR_UNITS, "amount", required=True, currency_column="cur"),
        CdmField("due_date", Kind.DATE, "due"),
        CdmField("active", Kind.BOOLEAN, "active"),
        CdmField("terms", Kind.INTEGER, "terms"),
    )
    row = {"id": "I-1", "amount": Decimal("1234.56"), "cur": "eur", "due": date(2026, 12, 1),
           "active": 1, "terms": 30}  # fmt: skip
    assert to_record(fields, row) == (
        {"external_id": "I-1", "total": 123456, "due_date": "2026-12-01", "active": True,
         "terms": 30},
        {},
    )  # fmt: skip
    assert to_record(fields, {**row, "amount": Decimal("1234"), "cur": "JPY"})[0]["total"] == 1234
    assert to_record(fields, {**row, "amount": Decimal("1.234"), "cur": "KWD"})[0]["total"] == 1234
    _, errors = to_record(
        fields, {"id": "", "amount": Decimal("0.005"), "cur": "EUR", "due": "2026-02-30",
                 "active": "yes", "terms": 1.5}
    )  # fmt: skip
    assert errors == {
        "external_id": "is required",
        "total": "0.005 has more decimals than EUR allows",
        "due_date": "'2026-02-30' is not a date",
        "active": "'yes' is not a boolean",
        "terms": "1.5 is not a whole number",
    }
    assert to_record(fields, {**row, "cur": "XXY"})[1] == {
        "total": "currency 'XXY' is not an ISO 4217 code"
    }
