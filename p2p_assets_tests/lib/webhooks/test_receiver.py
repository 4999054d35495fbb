"""The webhook receiver over loopback HTTP: Basic auth, one stored event per requestId, 400 for a
malformed body, and Boss Insights' own deliveries stored end to end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.boss_insights.client import BossInsightsClient
from p2p_assets.lib.webhooks.receiver import EventStore, WebhookServer
from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox
from p2p_assets.sandbox.http import Request, Response, Router

AUTH = ("p2p-webhooks", "sandbox-webhook-password")
EVENT = {"event": "api_push_update", "requestId": "req-1", "domain": "x.myintranetapps.com",
         "message": "done", "data": {"trackingId": "trk-1"}}  # fmt: skip


@pytest.fixture
def receiver(tmp_path: Path):
    store = EventStore(tmp_path / "events.sqlite3")
    server = WebhookServer(("127.0.0.1", 0), store, *AUTH)
    url = server.serve_in_thread()
    yield store, url
    server.shutdown()
    server.server_close()


def test_a_retried_webhook_is_stored_once(receiver) -> None:
    store, url = receiver
    answers = [httpx.post(url, json=EVENT, auth=AUTH).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 200]  # a retry is acknowledged, not stored again
    assert [(e[1], e[3]["data"]) for e in store.since(0)] == [("req-1", {"trackingId": "trk-1"})]


def test_wrong_credentials_and_malformed_bodies_store_nothing(receiver) -> None:
    store, url = receiver
    assert httpx.post(url, json=EVENT, auth=("p2p-webhooks", "wrong")).status_code == 401
    assert httpx.post(url, json=EVENT).status_code == 401
    assert httpx.post(url, content=b"{not json", auth=AUTH).status_code == 400
    assert httpx.post(url, json={"event": "x"}, auth=AUTH).status_code == 400  # no requestId
    assert httpx.post(url, json=[EVENT], auth=AUTH).status_code == 400
    assert store.since(0) == []


def test_boss_insights_push_webhooks_arrive_once_each(receiver, tmp_path: Path) -> None:
    store, url = receiver
    config = BossInsightsConfig(webhook_url=url)
    sandbox = BossInsightsSandbox(config, tmp_path / "boss")
    with (
        sandbox.serve() as api,
        BossInsightsClient(api, config.username, config.password, config.account_key) as client,
    ):
        written = [
            client.write("/api/vendors", {"external_id": f"S-{n}", "name": "V"}, f"trk-{n}")
            for n in range(3)
        ]
        assert sandbox.drain()
    events = store.since(0)
    assert sorted(e[3]["data"]["trackingId"] for e in events) == ["trk-0", "trk-1", "trk-2"]
    assert {e[3]["data"]["syncId"] for e in events} == {w.sync_id for w in written}


class AnswerLosingProxy:
    """Forwards each delivery to the receiver, but cuts the connection before the first `losses`
    answers reach Boss Insights: the events were stored, and Boss Insights must retry."""

    def __init__(self, upstream: str, losses: int):
        self.upstream = upstream
        self.losses = losses
        self.forwarded = 0

    def app(self) -> Router:
        router = Router()
        router.add("POST", "/", self.forward)
        return router

    def forward(self, request: Request) -> Response:
        answer = httpx.post(self.upstream, content=request.body, headers={
            "Authorization": request.headers["authorization"],
            "Content-Type": "application/json",
        })  # fmt: skip
        self.forwarded += 1
        response = Response(status=answer.status_code, body=answer.content)
        if self.forwarded <= self.losses:
            response.drop_after = 0  # the 200 never arrives complete
        return response


def test_a_webhook_boss_insights_delivers_three_more_times_is_stored_once(
    receiver, tmp_path: Path
) -> None:
    store, url = receiver
    proxy = AnswerLosingProxy(url, losses=3)
    with http.serve(proxy.app()) as proxied:
        config = BossInsightsConfig(webhook_url=f"{proxied}/", retry_delay_seconds=0.01)
        sandbox = BossInsightsSandbox(config, tmp_path / "boss")
        with sandbox.serve() as api, BossInsightsClient(
            api, config.username, config.password, config.account_key
        ) as client:  # fmt: skip
            client.write("/api/vendors", {"external_id": "S-1", "name": "V"}, "trk-r")
            assert sandbox.drain()
    attempts = sandbox.webhook_attempts()
    assert len(attempts) == 4 and attempts[-1]["status"] == "200"  # delivered, then retried 3x
    assert len({a["requestId"] for a in attempts}) == 1
    events = store.since(0)
    assert [e[3]["data"]["trackingId"] for e in events] == ["trk-r"]  # stored once


def test_boss_insights_with_wrong_webhook_credentials_stores_nothing(
    receiver, tmp_path: Path
) -> None:
    store, url = receiver
    config = BossInsightsConfig(webhook_url=url, webhook_password="not-the-password",
                                retry_delay_seconds=0.01)  # fmt: skip
    sandbox = BossInsightsSandbox(config, tmp_path / "boss")
    with sandbox.serve() as api, BossInsightsClient(
        api, config.username, config.password, config.account_key
    ) as client:  # fmt: skip
        client.write("/api/vendors", {"external_id": "S-1", "name": "V"}, "trk-w")
        assert sandbox.drain()
    assert [a["status"] for a in sandbox.webhook_attempts()] == ["401"] * 4
    assert sandbox.pushes()[0]["state"] == "given_up"
    assert store.since(0) == []


def test_the_command_serves_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "P2P_DATA_DIR": str(tmp_path / "data"),
           "P2P_WEBHOOK_USERNAME": AUTH[0], "P2P_WEBHOOK_PASSWORD": AUTH[1]}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "p2p_assets.cli", "webhooks", "serve", "--port", "0"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        url = line.split(" on ")[1].split(" ")[0]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.post(url, json=EVENT, auth=AUTH)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)  # also closes the pipe
    store = EventStore(tmp_path / "data" / "webhooks" / "events.sqlite3")
    assert [json.dumps(e[3], sort_keys=True) for e in store.since(0)] == [
        json.dumps(EVENT, sort_keys=True)
    ]
