"""The webhook receiver over loopback HTTP: Basic auth, one stored event per event (a retry is
acknowledged and stored once), 400 for a body the warehouse could not take, 413 for one too large,
deadlines for slow clients, the health endpoint, and Boss Insights' own deliveries stored end to
end. (Load, slow clients by the thousand and SIGTERM: live/test_webhooks_live.py.)"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.boss_insights.client import BossInsightsClient
from p2p_assets.lib.webhooks.receiver import EventStore, Limits, WebhookServer
from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox
from p2p_assets.sandbox.http import Request, Response, Router

AUTH = ("p2p-webhooks", "sandbox-webhook-password")
EVENT = {"event": "api_push_update", "requestId": "req-1", "domain": "x.myintranetapps.com",
         "message": "done", "data": {"trackingId": "trk-1"}}  # fmt: skip


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[EventStore, str]]]:
    """`serve(**limits)`: a receiver in this process, on a free port."""
    servers: list[WebhookServer] = []

    def start(**limits) -> tuple[EventStore, str]:
        store = EventStore(tmp_path / "events.sqlite3")
        server = WebhookServer(("127.0.0.1", 0), store, *AUTH, Limits(**limits))
        servers.append(server)
        return store, server.serve_in_thread()

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(serve):
    return serve()


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


def test_the_health_endpoint_needs_no_credentials_and_stores_nothing(receiver) -> None:
    store, url = receiver
    answer = httpx.get(f"{url}/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert httpx.head(f"{url}/healthz").status_code == 200
    assert store.since(0) == []


def test_events_sharing_a_request_id_are_both_kept_with_their_headers(receiver) -> None:
    store, url = receiver
    failed = {**EVENT, "data": {"trackingId": "trk-1", "status": "failed"}}
    headers = {"X-Sync-ID": "sync-7", "Cookie": "session=secret"}
    answers = [httpx.post(url, json=body, auth=AUTH, headers=headers).json()
               for body in (EVENT, failed, EVENT, failed)]  # fmt: skip
    assert answers == [{"stored": True}, {"stored": True}, {"stored": False}, {"stored": False}]
    events = store.events_after(0)
    assert [(e.request_id, e.body) for e in events] == [("req-1", EVENT), ("req-1", failed)]
    assert events[0].headers["x-sync-id"] == "sync-7"
    assert {"authorization", "cookie"}.isdisjoint(events[0].headers)
    assert events[0].headers["content-type"] == "application/json"


def test_a_lone_surrogate_is_refused_at_the_door_and_later_events_are_stored(receiver) -> None:
    store, url = receiver
    bad = b'{"event": "api_push_update", "requestId": "req-0", "message": "\\ud800"}'
    answer = httpx.post(url, content=bad, auth=AUTH)
    assert answer.status_code == 400
    assert "the string at $.message is not valid Unicode" in answer.json()["error"]
    assert httpx.post(url, json=EVENT, auth=AUTH).status_code == 200
    assert [e[1] for e in store.since(0)] == ["req-1"]


def test_a_body_over_the_limit_is_refused_with_413_declared_or_chunked(serve) -> None:
    store, url = serve(max_body_bytes=1000)
    big = {**EVENT, "message": "x" * 1000}
    assert httpx.post(url, json=big, auth=AUTH).status_code == 413
    chunks = (json.dumps(big).encode()[n : n + 100] for n in range(0, 1200, 100))
    assert httpx.post(url, content=chunks, auth=AUTH).status_code == 413  # no Content-Length
    assert httpx.post(url, json=EVENT, auth=AUTH).status_code == 200  # within the limit
    assert [e[1] for e in store.since(0)] == ["req-1"]


def test_the_default_body_limit_is_one_mebibyte(receiver) -> None:
    store, url = receiver

    def sized(size: int, request_id: str) -> bytes:
        body = json.dumps({**EVENT, "requestId": request_id, "padding": ""}).encode()
        return body[:-2] + b"x" * (size - len(body)) + b'"}'

    assert len(sized(1024 * 1024, "req-1")) == 1024 * 1024
    assert httpx.post(url, content=sized(1024 * 1024, "req-1"), auth=AUTH).status_code == 200
    assert httpx.post(url, content=sized(1024 * 1024 + 1, "req-2"), auth=AUTH).status_code == 413
    assert [e[1] for e in store.since(0)] == ["req-1"]


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """How long until the server closed `sock` (AssertionError after `seconds`)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_client_that_sends_nothing_or_half_a_request_is_disconnected(serve) -> None:
    store, url = serve(request_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    silent = socket.create_connection(("127.0.0.1", port))
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
    with silent, half:
        assert _closed_within(silent, 5) < 2
        assert _closed_within(half, 5) < 2
    assert httpx.post(url, json=EVENT, auth=AUTH).status_code == 200  # still serving


def test_a_body_that_arrives_too_slowly_is_answered_408_and_not_stored(serve) -> None:
    store, url = serve(request_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps(EVENT).encode()
    credentials = httpx.BasicAuth(*AUTH)._auth_header  # noqa: SLF001 - the header value
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + credentials.encode()
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
        )  # fmt: skip
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 ")
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


def test_the_command_refuses_a_wrong_limit_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "P2P_DATA_DIR": str(tmp_path / "data"),
           "P2P_WEBHOOK_USERNAME": AUTH[0], "P2P_WEBHOOK_PASSWORD": AUTH[1],
           "P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS": "soon"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "p2p_assets.cli", "webhooks", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS must be a positive number, not 'soon'" in (
        result.stderr
    )


def test_the_command_raises_its_open_file_limit_for_its_connections(tmp_path: Path) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096 + 64:
        pytest.skip(f"the hard open-file limit is {hard}")
    env = {**os.environ, "P2P_DATA_DIR": str(tmp_path / "data"),
           "P2P_WEBHOOK_USERNAME": AUTH[0], "P2P_WEBHOOK_PASSWORD": AUTH[1]}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "p2p_assets.cli", "webhooks", "serve", "--port", "0"],
        env=env, stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "at most 4096 connections" in process.stdout.readline() + process.stdout.readline()
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert int(line.split()[3]) >= 4096 + 64  # the soft limit, raised from 256
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        if process.stdout:
            process.stdout.close()
