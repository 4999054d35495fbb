"""The sandbox clock: one offset in the state dir that every reader of time goes through, shared
by every process serving the dir, movable from Python and over HTTP."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets_tests.sandbox.visma.conftest import CONNECT_FORM, FAST, bearer

SUB = {"role": "subscriber"}


def _close(a: float, b: float, tolerance: float = 5.0) -> bool:
    return abs(a - b) < tolerance


def test_python_clock_api(sandbox: VismaSandbox):
    assert sandbox.clock_offset() == 0 and _close(sandbox.now(), time.time())
    sandbox.set_now(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert _close(sandbox.now(), datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    sandbox.set_now(datetime(2030, 1, 2, 3, 4, 5))  # naive: UTC, not the machine's zone
    assert _close(sandbox.now(), datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    before = sandbox.clock_offset()
    sandbox.advance(3600)
    assert sandbox.clock_offset() == pytest.approx(before + 3600)
    sandbox.set_clock_offset(-86400)
    assert sandbox.clock_offset() == -86400 and _close(sandbox.now(), time.time() - 86400)


def test_two_sandboxes_on_one_state_dir_share_the_clock(tmp_path: Path):
    first = VismaSandbox(FAST, tmp_path / "state")
    second = VismaSandbox(FAST, tmp_path / "state")
    first.set_now(datetime(2031, 5, 6, 7, 8, tzinfo=UTC))
    assert _close(second.now(), first.now(), 1)
    with second.serve() as url:  # moved over HTTP in one, read in Python from the other
        httpx.post(f"{url}/_sandbox/clock", json={"advance": 86400})
    assert _close(first.now(), datetime(2031, 5, 7, 7, 8, tzinfo=UTC).timestamp())


def test_http_clock(root: httpx.Client, sandbox: VismaSandbox):
    body = root.get("/_sandbox/clock").json()
    assert set(body) == {"now", "offset"} and body["offset"] == 0
    assert body["now"].endswith("Z") and _close(
        datetime.fromisoformat(body["now"]).timestamp(), time.time()
    )
    moved = root.post("/_sandbox/clock", json={"now": "2030-06-01T06:00:00Z"}).json()
    assert moved["now"].startswith("2030-06-01T06:00:0")
    assert moved["offset"] == pytest.approx(sandbox.clock_offset())
    advanced = root.post("/_sandbox/clock", json={"advance": 7200}).json()
    assert advanced["now"].startswith("2030-06-01T08:00:0")
    assert root.get("/_sandbox/state").json()["clock"]["offset"] == pytest.approx(
        advanced["offset"]
    )
    for bad in ({}, {"now": "tomorrow"}, {"advance": "x"}, {"now": "2030-01-01", "advance": 1}):
        assert root.post("/_sandbox/clock", json=bad).status_code == 422


def test_setting_the_clock_is_cheap(sandbox: VismaSandbox):
    # Tests move the clock tens of thousands of times: one short transaction each.
    started = time.perf_counter()
    for second in range(20_000):
        sandbox.set_clock_offset(second)
    assert time.perf_counter() - started < 10  # about 1 s
    assert sandbox.clock_offset() == 19_999


def test_tokens_expire_on_the_sandbox_clock(sandbox: VismaSandbox, root: httpx.Client):
    headers = bearer(root)
    sandbox.advance(7199)
    assert root.get("/v1.0/files", params=SUB, headers=headers).status_code == 200
    sandbox.advance(2)
    expired = root.get("/v1.0/files", params=SUB, headers=headers)
    assert expired.status_code == 401
    # The 401 is issued at the sandbox's time too.
    issued = datetime.fromisoformat(expired.json()["issuedAt"])
    assert _close(issued.timestamp(), sandbox.now())
    sandbox.advance(-10)  # back inside the token's life
    assert root.get("/v1.0/files", params=SUB, headers=headers).status_code == 200


def test_upload_and_delete_dates_follow_the_clock(tmp_path: Path):
    config = VismaSandboxConfig(spike_interval_seconds=0, files_per_type={})
    sandbox = VismaSandbox(config, tmp_path)
    sandbox.set_now(datetime(2030, 2, 3, 4, 5, 6, tzinfo=UTC))
    sandbox.deliver(7101)  # delivered in 2030: retained from then on
    with sandbox.serve() as url, httpx.Client(base_url=url) as root:
        api = httpx.Client(base_url=f"{url}/v1.0", headers=bearer(root))
        (item,) = api.get("/files", params=SUB).json()["data"]
        assert api.delete(f"/files/{item['fileId']}", params=SUB).status_code == 204
        listed = api.get("/files", params={**SUB, "$filter": "status eq 'all'"}).json()["data"]
        assert listed[0]["deletedDate"].startswith("2030-02-03T04:05:")
        body = (
            b'--b\r\nContent-Type: application/json\r\n\r\n{"name": "a.txt", "businesstypeid":'
            b' "7100"}\r\n--b\r\n\r\nx\r\n--b--'
        )
        created = api.post(
            "/files",
            params={"uploadType": "multipart"},
            headers={"Content-Type": "multipart/related; boundary=b"},
            content=body,
        ).json()
        assert created["creationDate"].startswith("2030-02-03T04:05:")
        opened = api.post(
            "/files",
            params={"uploadType": "resumable"},
            headers={"Content-Type": "multipart/related; boundary=b"},
            content=body,
        ).json()
        sandbox.advance(3601)  # the upload token lives an hour
        params = {"uploadType": "resumable", "uploadToken": opened["uploadToken"], "position": 1}
        assert api.put("/files", params=params, content=b"y").status_code == 400
        api.close()


def test_the_month_of_the_auth_quota_is_the_sandbox_clocks(sandbox: VismaSandbox, root):
    sandbox.set_now(datetime(2030, 12, 31, 23, 59, tzinfo=UTC))
    assert root.post("/connect/token", data=CONNECT_FORM).status_code == 200
    sandbox.advance(timedelta(minutes=2).total_seconds())
    assert root.post("/connect/token", data=CONNECT_FORM).status_code == 200
    counters = sandbox.counters()
    assert (counters["tokens:2030-12"], counters["tokens:2031-01"]) == (1, 1)
