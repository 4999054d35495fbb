"""The Boss Insights sandbox plays each variant the manual leaves open, over loopback HTTP: a
second POST that upserts or duplicates, PUT by the CDM's id (or 405), and every webhook layout,
one outcome per destination; its `P2P_SANDBOX_BOSS_INSIGHTS_*` variables select them."""

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.boss_insights.client import (
    BossInsightsClient,
    BossInsightsError,
    BossInsightsRejectedError,
)
from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox
from p2p_assets.sandbox.boss_insights.env import config_from_env
from p2p_assets.sandbox.http import Request, Response, Router

VENDOR = {"external_id": "S-1", "name": "Bakkerij de Vries BV"}


class Hooks:
    """A webhook endpoint that keeps every delivery."""

    def __init__(self) -> None:
        self.received: list[Request] = []
        self.lock = threading.Lock()

    def app(self) -> Router:
        router = Router()
        router.add("POST", "/hooks", self.receive)
        return router

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.received.append(request)
        return Response.json({})


def _client(url: str, config: BossInsightsConfig) -> BossInsightsClient:
    return BossInsightsClient(f"{url}/api", config.username, config.password, config.account_key)


def _pushed(tmp_path: Path, failed: bool = False, **variant) -> list[Request]:
    """The webhooks of one pushed vendor write in the sandbox `variant`."""
    hooks = Hooks()
    with http.serve(hooks.app()) as hooks_url:
        config = BossInsightsConfig(webhook_url=f"{hooks_url}/hooks", **variant)
        sandbox = BossInsightsSandbox(config, tmp_path)
        sandbox.set_faults(failed_pushes=1 if failed else 0)
        with sandbox.serve() as url, _client(url, config) as client:
            written = client.write("/vendors", VENDOR, tracking_id="trk-1")
            assert sandbox.drain()
    for request in hooks.received:
        assert request.json()["requestId"]
        assert set(request.json()) >= {"event", "requestId", "domain", "message", "data"}
    assert written.sync_id
    return hooks.received


def test_a_second_post_upserts_or_creates_a_duplicate(tmp_path: Path) -> None:
    for mode, expected in (("upsert", 1), ("create", 2)):
        config = BossInsightsConfig(post_mode=mode)
        sandbox = BossInsightsSandbox(config, tmp_path / mode)
        with sandbox.serve() as url, _client(url, config) as client:
            first = client.write("/vendors", VENDOR, "t-1")
            second = client.write("/vendors", {**VENDOR, "name": "De Vries"}, "t-2")
        assert len(sandbox.all_records("vendor")) == expected
        assert (first.body["id"] == second.body["id"]) is (mode == "upsert")
        assert sandbox.records("vendor")["S-1"]["name"] == "De Vries"


def test_put_updates_by_the_cdm_id_or_is_not_allowed(tmp_path: Path) -> None:
    config = BossInsightsConfig(post_mode="create")
    sandbox = BossInsightsSandbox(config, tmp_path / "put")
    with sandbox.serve() as url, _client(url, config) as client:
        created = client.write("/vendors", VENDOR, "t-1").body["id"]
        client.write(f"/vendors/{created}", {**VENDOR, "name": "Updated"}, "t-2", method="PUT")
        with pytest.raises(BossInsightsRejectedError, match="404"):
            client.write("/vendors/999999", VENDOR, "t-3", method="PUT")
    assert sandbox.all_records("vendor") == [
        {"id": created, "external_id": "S-1", "body": {**VENDOR, "name": "Updated"}}
    ]
    assert [(w["method"], w["record_id"]) for w in sandbox.writes()] == [
        ("POST", created), ("PUT", created),
    ]  # fmt: skip
    no_put = BossInsightsConfig(put_by_id=False)
    sandbox = BossInsightsSandbox(no_put, tmp_path / "no-put")
    with sandbox.serve() as url, _client(url, no_put) as client:
        created = client.write("/vendors", VENDOR, "t-1").body["id"]
        with pytest.raises(BossInsightsError, match="405"):
            client.write(f"/vendors/{created}", VENDOR, "t-2", method="PUT")


def test_nested_top_level_and_header_layouts(tmp_path: Path) -> None:
    (nested,) = _pushed(tmp_path / "n")
    assert nested.json()["data"]["trackingId"] == "trk-1"
    assert nested.json()["data"]["status"] == "success"
    (top,) = _pushed(tmp_path / "t", failed=True, webhook_layout="top_level",
                     failure_status="rejected")  # fmt: skip
    assert (top.json()["trackingId"], top.json()["status"]) == ("trk-1", "rejected")
    assert "trackingId" not in top.json()["data"]
    (nested_bool,) = _pushed(tmp_path / "b", failed=True, outcome_field="result.success")
    assert nested_bool.json()["data"]["result"] == {"success": False}
    (header,) = _pushed(tmp_path / "h", webhook_layout="headers")
    assert header.headers["x-tracking-id"] == "trk-1" and header.headers["x-sync-id"]
    assert "trackingId" not in header.json()["data"]


def test_several_destinations_one_outcome_each(tmp_path: Path) -> None:
    destinations = ("quickbooks", "hubspot", "xero")
    (listed,) = _pushed(tmp_path / "r", failed=True, webhook_layout="results",
                        destinations=destinations, failing_destination="hubspot")  # fmt: skip
    data = listed.json()["data"]
    assert data["status"] == "completed"  # the job, whatever each destination says
    assert [(r["source"], r["status"]) for r in data["results"]] == [
        ("quickbooks", "success"), ("hubspot", "failed"), ("xero", "success"),
    ]  # fmt: skip
    each = _pushed(tmp_path / "p", failed=True, webhook_layout="per_destination",
                   destinations=destinations)  # fmt: skip
    bodies = [r.json() for r in each]
    assert [(b["data"]["source"], b["data"]["status"]) for b in bodies] == [
        ("quickbooks", "success"), ("hubspot", "success"), ("xero", "failed"),
    ]  # fmt: skip
    assert len({b["requestId"] for b in bodies}) == 3
    assert {b["data"]["trackingId"] for b in bodies} == {"trk-1"}


def test_the_variables_select_the_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"POST": "create", "PUT": "0", "WEBHOOK_LAYOUT": "results",
                        "OUTCOME_FIELD": "success", "DESTINATIONS": "quickbooks, hubspot",
                        "FAILING_DESTINATION": "quickbooks", "FAILURE_STATUS": "rejected",
                        "PUSH_DELAY_SECONDS": "0"}.items():  # fmt: skip
        monkeypatch.setenv(f"P2P_SANDBOX_BOSS_INSIGHTS_{name}", value)
    config = config_from_env(webhook_url="http://hooks")
    assert (config.post_mode, config.put_by_id, config.webhook_layout) == (
        "create", False, "results",
    )  # fmt: skip
    assert config.destinations == ("quickbooks", "hubspot")
    assert (config.outcome_field, config.failing_destination) == ("success", "quickbooks")
    assert (config.failure_status, config.push_delay_seconds) == ("rejected", 0.0)
    assert config.webhook_url == "http://hooks"
    monkeypatch.setenv("P2P_SANDBOX_BOSS_INSIGHTS_WEBHOOK_LAYOUT", "sideways")
    with pytest.raises(ValueError, match="webhook_layout must be one of"):
        config_from_env()


def test_faults_are_set_over_http(tmp_path: Path) -> None:
    sandbox = BossInsightsSandbox(BossInsightsConfig(), tmp_path)
    with sandbox.serve() as url:
        set_ = httpx.post(f"{url}/_sandbox/faults", json={"failed_pushes": 2}).json()
        assert set_["failed_pushes"] == 2
        assert httpx.get(f"{url}/_sandbox/state").json()["faults"]["failed_pushes"] == 2
        assert httpx.delete(f"{url}/_sandbox/faults").json()["failed_pushes"] == 0
        refused = httpx.post(f"{url}/_sandbox/faults", json={"no_such_fault": 1})
        assert refused.status_code == 422


def test_a_state_dir_of_the_first_schema_keeps_its_records(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "sandbox.sqlite3")
    db.execute("CREATE TABLE cdm (object TEXT NOT NULL, external_id TEXT NOT NULL, body TEXT NOT "
               "NULL, updated_at TEXT NOT NULL, PRIMARY KEY (object, external_id))")  # fmt: skip
    db.execute("INSERT INTO cdm VALUES ('vendor', 'S-1', '{\"name\": \"x\"}', '2026-01-01')")
    db.execute(
        "CREATE TABLE writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT NOT NULL, "
        "external_id TEXT NOT NULL, tracking_id TEXT, sync_id TEXT, at TEXT NOT NULL)"
    )
    db.commit()
    db.close()
    sandbox = BossInsightsSandbox(BossInsightsConfig(), tmp_path)
    assert sandbox.all_records("vendor") == [{"id": "S-1", "external_id": "S-1",
                                              "body": {"name": "x"}}]  # fmt: skip
    with sandbox.serve() as url, _client(url, sandbox.config) as client:
        assert client.write("/vendors", VENDOR, "t").body["id"] == "S-1"  # upserted by id
