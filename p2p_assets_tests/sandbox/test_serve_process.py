"""`p2p-assets sandbox serve <vendor> --port 0` as its own process, the way a test or benchmark
runs a sandbox it drives over HTTP: the first line names the real URL, the sandbox answers, faults
are set over HTTP, and SIGTERM ends it with exit status 0."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.boss_insights import VENDOR
from p2p_assets_tests.sandbox.helpers import BASIC

FIRST_LINE = re.compile(r"^serving (\w+) on (http://127\.0\.0\.1:(\d+))$")


_lines: dict[int, tuple[queue.Queue[str], threading.Thread]] = {}


def _read_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The process's next stdout line, read by a thread (a pipe's buffered text cannot be
    polled with select: lines already buffered would look like no output)."""
    if process.pid not in _lines:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def pump() -> None:
            with stdout:  # closed at end of output, by the only thread reading it
                for line in stdout:
                    lines.put(line.rstrip("\n"))

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        _lines[process.pid] = (lines, thread)
    try:
        return _lines[process.pid][0].get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("the sandbox printed nothing in time") from None


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("P2P_")}
    env.update(
        P2P_DATA_DIR=str(tmp_path / "data"),
        P2P_SANDBOX_BASWARE_INVOICES="20",
        P2P_SANDBOX_BASWARE_DELTA_INTERVAL_SECONDS="0",
    )
    return env


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(vendor: str, **extra_env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "p2p_assets.cli", "sandbox", "serve", vendor, "--port", "0"],
            env={**env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:  # only those this test started, by their own handle
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
        reader = _lines.pop(process.pid, None)
        if reader is not None:
            reader[1].join(10)
        elif process.stdout is not None:
            process.stdout.close()


def _stop(process: subprocess.Popen[str], how: int = signal.SIGTERM) -> None:
    process.send_signal(how)
    # 10 s proved too tight with two test suites sharing 2 cores (11 s seen).
    assert process.wait(30) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


@pytest.mark.parametrize(
    ("vendor", "method", "path"),
    [
        ("basware", "GET", "/v1/dataExtracts"),
        ("visma", "GET", "/v1.0/files"),
        ("workspace365", "POST", "/p2p/BusinessAppApi/Invoice%20exceptions"),
        ("boss_insights", "POST", VENDOR.path),
    ],
)
def test_serves_on_an_ephemeral_port_and_stops_on_sigterm(serve, vendor, method, path):
    process = serve(vendor)
    match = FIRST_LINE.match(_read_line(process))
    assert match, "the first line must be `serving <vendor> on http://HOST:PORT`"
    assert match.group(1) == vendor and int(match.group(3)) > 0
    url = match.group(2)
    hint = _read_line(process)
    while "export" not in hint:
        hint = _read_line(process)
    assert f"={url}" in hint  # the export hints name the real port too
    assert httpx.request(method, url + path).status_code == 401  # up, and asks for credentials
    _stop(process)


def test_sigint_stops_it_too(serve):
    process = serve("visma")
    assert FIRST_LINE.match(_read_line(process))
    _stop(process, signal.SIGINT)


def test_basware_with_a_storage_host_is_driven_over_http(serve):
    process = serve("basware", P2P_SANDBOX_BASWARE_STORAGE_HOST="127.0.0.2")
    match = FIRST_LINE.match(_read_line(process))
    assert match
    url = match.group(2)
    storage = re.fullmatch(r"storage on (http://127\.0\.0\.2:\d+)", _read_line(process))
    assert storage, "the second line names the storage host"
    with httpx.Client(base_url=url, timeout=30) as client:
        extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
        entries = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()
        assert "recordCount" not in entries[0]
        redirect = client.get(entries[0]["downloadUrl"], auth=BASIC)
        assert redirect.headers["Location"].startswith(storage.group(1) + "/")
        assert client.post("/_sandbox/faults", json={"drop_next_downloads": 1}).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(entries[0]["downloadUrl"], auth=BASIC, follow_redirects=True)
        whole = client.get(entries[0]["downloadUrl"], auth=BASIC, follow_redirects=True)
        assert whole.status_code == 200
        downloads = client.get("/_sandbox/state").json()["downloads"]
        assert downloads == [
            {"extractId": extract_id, "fileName": entries[0]["fileName"], "count": 2}
        ]
    _stop(process)
