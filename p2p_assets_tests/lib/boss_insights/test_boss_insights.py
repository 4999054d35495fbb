"""The Boss Insights client against its sandbox over loopback HTTP: synchronous CDM writes, the
tracking id echoed, the async push and its webhook with Basic auth and three retries."""

import base64
import threading

import pytest

from p2p_assets.lib.boss_insights.client import (
    BossInsightsAuthError,
    BossInsightsClient,
    BossInsightsRejectedError,
)
from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox
from p2p_assets.sandbox.http import Request, Response, Router

VENDOR = {"external_id": "S-1", "name": "Bakkerij de Vries BV"}


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


def test_a_pushed_write_is_confirmed_by_a_webhook_retried_until_200() -> None:
    stub = WebhookStub(failures=2)
    with http.serve(stub.app()) as hooks:
        config = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss")
        sandbox = BossInsightsSandbox(config)
        with sandbox.serve() as url, _client(url, config, sync_sources="accounting") as client:
            written = client.write("/api/vendors", VENDOR, tracking_id="trk-1")
            sandbox.wait_for_pushes()
    assert written.tracking_id == "trk-1" and written.sync_id
    assert sandbox.cdm["vendor"]["S-1"] == VENDOR  # written synchronously
    assert [a["status"] for a in sandbox.webhook_attempts] == [500, 500, 200]
    first = stub.received[0]
    assert {r.json()["requestId"] for r in stub.received} == {first.json()["requestId"]}
    payload = first.json()
    assert set(payload) == {"event", "requestId", "domain", "message", "data"}
    assert payload["data"]["trackingId"] == "trk-1"
    assert payload["data"]["syncId"] == written.sync_id
    expected = base64.b64encode(b"p2p-webhooks:sandbox-webhook-password").decode()
    assert first.headers["authorization"] == f"Basic {expected}"


def test_a_webhook_is_retried_three_times_then_given_up() -> None:
    stub = WebhookStub(failures=10)
    with http.serve(stub.app()) as hooks:
        config = BossInsightsConfig(webhook_url=f"{hooks}/hooks/boss")
        sandbox = BossInsightsSandbox(config)
        with sandbox.serve() as url, _client(url, config) as client:
            client.write("/api/vendors", VENDOR, tracking_id="trk-2")
            sandbox.wait_for_pushes()
    assert len(stub.received) == 4  # the first delivery and three retries


def test_refusals() -> None:
    config = BossInsightsConfig()
    sandbox = BossInsightsSandbox(config)
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
            plain = _client(url, config, push=False)
            with plain:
                assert plain.write("/api/vendors", VENDOR, "t").sync_id is None
    read_only = BossInsightsConfig(scopes=("api.read",))
    with BossInsightsSandbox(read_only).serve() as url, _client(url, read_only) as client:
        with pytest.raises(BossInsightsAuthError, match="api.write"):
            client.write("/api/vendors", VENDOR, "t")
