"""The plans' concurrency limit: a streamed download holds its slot until its body is sent or its
connection closes, so a second download on the weekly plan (one call at a time) is refused."""

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets_tests.sandbox.visma.conftest import CHEAP, IN_WINDOW, bearer

# Bigger than what the loopback socket buffers hold while the client reads nothing, so the
# server is still sending when the second call arrives.
LARGE = 8_000_000
CONCURRENT = "policies.concurrentratelimit.ConcurrentRatelimtViolation"


@pytest.fixture(params=["weekly", "continuous"])
def served(request, tmp_path: Path) -> Iterator[tuple[VismaSandbox, str, dict, str]]:
    """(sandbox, base URL, auth headers, the large file's download path) on the plan."""
    config = VismaSandboxConfig(
        plan=request.param, spike_interval_seconds=0, files_per_type={}, large_file_bytes=LARGE
    )
    sandbox = VismaSandbox(config, tmp_path)
    sandbox.set_now(IN_WINDOW)
    (large,) = sandbox.files()
    with sandbox.serve() as url, httpx.Client(base_url=url) as root:
        yield sandbox, url, bearer(root), f"/v1.0/files/{large['id']}?role=subscriber"


def _refused_for_concurrency(response: httpx.Response) -> bool:
    if response.status_code != 429:
        return False
    assert response.json()["fault"] == {
        "faultstring": "Concurrent limit",
        "detail": {"errorcode": CONCURRENT},
    }
    return True


def test_streamed_downloads_hold_their_slots_until_sent(served):
    sandbox, url, headers, download = served
    slots = sandbox.config.usage.concurrency
    with ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=30))
            for _ in range(slots + 1)
        ]
        streams = [stack.enter_context(c.stream("GET", download)) for c in clients[:slots]]
        assert [r.status_code for r in streams] == [200] * slots
        assert _refused_for_concurrency(clients[slots].get(download))
        assert _refused_for_concurrency(clients[slots].get("/v1.0/files", params=CHEAP))
        bodies = [response.read() for response in streams]
        # The same connection's next call is handled after its body was sent: the slot is free.
        assert clients[0].get("/v1.0/files", params=CHEAP).status_code == 200
    assert all(body == sandbox.file_bytes(sandbox.files()[0]["id"]) for body in bodies)
    assert sandbox.counters()["throttled_concurrency"] == 2


def test_a_closed_connection_frees_its_slot(served):
    sandbox, url, headers, download = served
    slots = sandbox.config.usage.concurrency
    with httpx.Client(base_url=url, headers=headers, timeout=30) as other:
        with ExitStack() as stack:
            for _ in range(slots):
                client = stack.enter_context(httpx.Client(base_url=url, headers=headers))
                response = stack.enter_context(client.stream("GET", download))
                assert response.status_code == 200
            assert _refused_for_concurrency(other.get("/v1.0/files", params=CHEAP))
        # Leaving the block mid-body closed the connections; the server notices when it next
        # writes, so the slots come back shortly.
        deadline = time.monotonic() + 10
        while _refused_for_concurrency(response := other.get("/v1.0/files", params=CHEAP)):
            assert time.monotonic() < deadline, "a closed download kept its slot"
            time.sleep(0.05)
    assert response.status_code == 200
    assert not sandbox.files()[0]["downloaded"]  # a cut download is no download
