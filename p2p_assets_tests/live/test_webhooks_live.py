"""The webhook receiver as production runs it: `p2p-assets webhooks serve` as its own process,
configured by the environment, under the load a vendor (or the internet) can put on it.

- 500 concurrent deliveries are all answered 200 and each event is stored once;
- 1,000 slow clients (connected and silent, half a request, half a body) do not delay a real
  delivery beyond 2 s, and are disconnected after P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS;
- SIGTERM while requests are in flight: they are stored and answered, a new connection is
  refused, and the process exits 0;
- the door: 401, 413, 400 for a lone surrogate, /healthz, one row per event.
"""

import asyncio
import json
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.webhooks.store import EventStore
from p2p_assets_tests.live.conftest import CLI, clean_env

AUTH = ("p2p-hooks", "a-long-webhook-password")
CREDENTIALS = httpx.BasicAuth(*AUTH)._auth_header.encode()  # noqa: SLF001 - the header value


def event(n: int, **extra: object) -> dict:
    return {"event": "api_push_update", "requestId": f"req-{n}", "domain": "x.myintranetapps.com",
            "message": "done", "data": {"trackingId": f"trk-{n}", **extra}}  # fmt: skip


@dataclass
class Receiver:
    url: str
    port: int
    process: subprocess.Popen
    store_path: Path
    lines: list[str] = field(default_factory=list)
    drain: threading.Thread = field(default_factory=threading.Thread)

    def events(self) -> list[dict]:
        return [e.body for e in EventStore(self.store_path).events_after(0)]


def allow_open_files(count: int) -> None:
    """This test process opens `count` sockets at once: raise the soft limit if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"the hard open-file limit ({hard}) is below {count}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    """`serve(**P2P_WEBHOOK_* settings)` starts `p2p-assets webhooks serve --port 0`."""
    started: list[Receiver] = []

    def start(**settings: str) -> Receiver:
        data_dir = tmp_path / "receiver"
        env = clean_env(P2P_DATA_DIR=str(data_dir), P2P_WEBHOOK_USERNAME=AUTH[0],
                        P2P_WEBHOOK_PASSWORD=AUTH[1],
                        **{f"P2P_WEBHOOK_{k.upper()}": v for k, v in settings.items()})  # fmt: skip
        process = subprocess.Popen(
            [*CLI, "webhooks", "serve", "--port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("Webhook receiver on http://127.0.0.1:"), first
        url = first.split(" on ")[1].split(" ")[0]
        receiver = Receiver(url, int(url.rsplit(":", 1)[1]), process,
                            data_dir / "webhooks" / "events.sqlite3", [first])  # fmt: skip

        def drain() -> None:
            for line in process.stdout or []:
                receiver.lines.append(line.rstrip("\n"))

        receiver.drain = threading.Thread(target=drain, daemon=True)
        receiver.drain.start()
        started.append(receiver)
        # The port is bound when the line is printed; wait until requests are being answered.
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        return receiver

    yield start
    for receiver in started:
        if receiver.process.poll() is None:
            receiver.process.terminate()
        try:
            receiver.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            receiver.process.kill()
            receiver.process.wait()
        receiver.drain.join(10)
        if receiver.process.stdout:
            receiver.process.stdout.close()


def test_the_door_refuses_what_it_must_and_stores_each_event_once(serve) -> None:
    receiver = serve(max_body_bytes="2000")
    url = receiver.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.post(url, json=event(1), auth=("p2p-hooks", "wrong")).status_code == 401
    assert httpx.post(url, json=event(1)).status_code == 401
    assert httpx.post(url, json={**event(1), "m": "x" * 2000}, auth=AUTH).status_code == 413
    surrogate = json.dumps(event(1)).replace('"done"', '"\\ud800"').encode()
    refused = httpx.post(url, content=surrogate, auth=AUTH)
    assert refused.status_code == 400 and "$.message" in refused.json()["error"]
    outcomes = [event(1), event(1, status="failed"), event(1), event(1, status="failed")]
    assert [httpx.post(url, json=e, auth=AUTH).json()["stored"] for e in outcomes] == [
        True, True, False, False,
    ]  # fmt: skip
    assert receiver.events() == outcomes[:2]  # same requestId, different content: both kept


def test_500_concurrent_deliveries_are_all_answered_200_and_each_stored_once(serve) -> None:
    allow_open_files(2048)
    receiver = serve()
    # 400 events; the first 100 are also delivered a second time, at the same moment.
    deliveries = [event(n) for n in range(400)] + [event(n) for n in range(100)]

    async def deliver_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(deliveries), max_keepalive_connections=0)
        async with httpx.AsyncClient(auth=AUTH, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(client.post(receiver.url, json=e) for e in deliveries))

    started = time.monotonic()
    answers = asyncio.run(deliver_all())
    elapsed = time.monotonic() - started
    print(f"500 concurrent deliveries answered in {elapsed:.2f} s")
    assert [a.status_code for a in answers] == [200] * 500
    assert sum(a.json()["stored"] for a in answers) == 400
    stored = receiver.events()
    assert sorted(e["requestId"] for e in stored) == sorted(f"req-{n}" for n in range(400))
    assert elapsed < 30


def slow_clients(port: int, count: int) -> list[socket.socket]:
    """`count` connections that never finish a request: a third silent, a third with half a
    request line, a third with authenticated headers and half the body they announce."""
    body = json.dumps(event(0)).encode()
    halves = [
        b"",
        b"POST / HTTP/1.1\r\nHost: receiver\r\nContent-Ty",
        b"POST / HTTP/1.1\r\nHost: receiver\r\nAuthorization: " + CREDENTIALS
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:20],
    ]  # fmt: skip
    sockets = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if halves[n % 3]:
            sock.sendall(halves[n % 3])
        sockets.append(sock)
    return sockets


def test_1000_slow_clients_do_not_delay_a_real_delivery_and_are_disconnected(serve) -> None:
    allow_open_files(4096)
    receiver = serve(request_timeout_seconds="6")
    idle = slow_clients(receiver.port, 1000)
    opened = time.monotonic()
    try:
        delays = []
        for n in range(1, 6):
            started = time.monotonic()
            answer = httpx.post(receiver.url, json=event(n), auth=AUTH, timeout=30)
            delays.append(time.monotonic() - started)
            assert answer.status_code == 200
        assert time.monotonic() - opened < 6, "the slow clients were cut off before measuring"
        print(f"deliveries beside 1,000 slow clients: {', '.join(f'{d:.3f}' for d in delays)} s")
        assert max(delays) < 2
        assert [e["requestId"] for e in receiver.events()] == [f"req-{n}" for n in range(1, 6)]

        # After the request timeout every slow client has been disconnected (the ones that
        # sent half a body with a 408), and nothing of theirs was stored.
        time.sleep(max(0.0, opened + 6 - time.monotonic()))
        answers = []
        for sock in idle:
            sock.settimeout(10)
            received = b""
            try:
                while chunk := sock.recv(4096):
                    received += chunk
            except ConnectionResetError:
                pass
            answers.append(received.split(b"\r\n", 1)[0])
        assert sorted(set(answers)) == [b"", b"HTTP/1.1 408 Request Timeout"]
        assert answers.count(b"HTTP/1.1 408 Request Timeout") == 333
        assert len(receiver.events()) == 5
    finally:
        for sock in idle:
            sock.close()


def test_sigterm_finishes_the_requests_in_flight_and_exits_0(serve) -> None:
    allow_open_files(2048)
    receiver = serve()
    # 50 deliveries in flight: headers sent, half the body still to come.
    in_flight = []
    for n in range(50):
        body = json.dumps(event(1000 + n)).encode()
        sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=30)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: receiver\r\nAuthorization: " + CREDENTIALS
                     + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                     + body[: len(body) // 2])  # fmt: skip
        in_flight.append((sock, body[len(body) // 2 :]))
    # And complete deliveries racing the signal: each one is either answered 200 (then it is
    # stored) or refused (then Boss Insights delivers it again), never acknowledged and lost.
    stop = threading.Event()
    clients = [httpx.Client(auth=AUTH, timeout=30) for _ in range(8)]  # each builds an SSL context

    def keep_delivering(worker: int) -> list[tuple[str, int | None]]:
        outcomes: list[tuple[str, int | None]] = []
        with clients[worker] as client:
            for n in range(10_000):
                if stop.is_set():
                    break
                request_id = f"race-{worker}-{n}"
                try:
                    answer = client.post(receiver.url, json={**event(0), "requestId": request_id})
                    outcomes.append((request_id, answer.status_code))
                except httpx.TransportError:
                    outcomes.append((request_id, None))
                    break
        return outcomes

    with ThreadPoolExecutor(len(clients)) as pool:
        racing = [pool.submit(keep_delivering, w) for w in range(len(clients))]
        time.sleep(1)
        receiver.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            socket.create_connection(("127.0.0.1", receiver.port), timeout=5).close()
        answers = []
        for n, (sock, rest) in enumerate(in_flight):
            try:
                sock.sendall(rest)
                answers.append(sock.recv(4096).split(b"\r\n", 1)[0])
            except OSError as exc:
                answers.append(f"{n}: {exc!r}".encode())
            sock.close()
        stop.set()
        outcomes = [o for future in racing for o in future.result()]
    assert receiver.process.wait(timeout=30) == 0, "\n".join(receiver.lines)
    assert answers == [b"HTTP/1.1 200 OK"] * 50, "\n".join(receiver.lines)
    stored = {e["requestId"] for e in receiver.events()}
    assert {f"req-{1000 + n}" for n in range(50)} <= stored
    acknowledged = {request_id for request_id, status in outcomes if status == 200}
    assert len(acknowledged) > 10 and acknowledged <= stored
    assert {status for _, status in outcomes} <= {200, None}
