"""Retention on the sandbox clock: a file's content is gone a month after delivery (it stays
listed, downloads answer 404), its metadata six months after; a month starts at the later of the
uploadDate and the state's seeding (or the file's delivery)."""

import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets_tests.sandbox.visma.conftest import FAST, bearer

SUB = {"role": "subscriber"}
DAY = 86400
EXPIRED = {
    "correlationId": None,
    "message": "File content is no longer available.",
    "errorCode": "404",
    "exception": None,
}


def _listed(api: httpx.Client) -> dict[str, dict]:
    listed = api.get("/files", params={**SUB, "pageSize": 100}).json()["data"]
    return {item["fileId"]: item for item in listed}


@pytest.fixture
def api(base_url: str, root: httpx.Client):
    with httpx.Client(base_url=f"{base_url}/v1.0", headers=bearer(root)) as client:
        yield client


def _refresh(api: httpx.Client, root: httpx.Client) -> None:
    """A new token: tokens expire on the same clock the test moves by weeks."""
    api.headers.update(bearer(root))


def test_seeded_files_keep_their_content_for_31_days_from_seeding(
    sandbox: VismaSandbox, api: httpx.Client, root: httpx.Client
):
    assert abs(sandbox.state.seeded_at - time.time()) < 60  # the 2024 upload dates are older
    item = next(iter(_listed(api).values()))
    url = f"/files/{item['fileId']}"
    sandbox.advance(31 * DAY - 60)
    _refresh(api, root)
    assert api.head(url, params=SUB).status_code == 200
    sandbox.advance(120)
    _refresh(api, root)
    head, get = api.head(url, params=SUB), api.get(url, params=SUB)
    assert (head.status_code, get.status_code) == (404, 404)
    assert get.json() == EXPIRED
    after = _listed(api)
    assert after[item["fileId"]] == item  # still listed, metadata unchanged, not downloaded
    assert len(after) == 17


def test_a_delivered_file_is_retained_from_its_delivery(
    sandbox: VismaSandbox, api: httpx.Client, root: httpx.Client
):
    sandbox.advance(20 * DAY)
    (delivered,) = sandbox.deliver(101100)
    seeded = next(f for f in sandbox.files() if f["id"] != delivered["id"])
    sandbox.advance(12 * DAY)  # 32 days after seeding, 12 after the delivery
    _refresh(api, root)
    assert api.get(f"/files/{seeded['id']}", params=SUB).json() == EXPIRED
    fresh = api.get(f"/files/{delivered['id']}", params=SUB)
    assert fresh.content == sandbox.file_bytes(delivered["id"])
    sandbox.advance(20 * DAY)
    _refresh(api, root)
    assert api.get(f"/files/{delivered['id']}", params=SUB).status_code == 404


def test_a_later_upload_date_starts_the_month(tmp_path: Path):
    start = datetime(2031, 1, 1, 6, 0, tzinfo=UTC)  # uploadDates after the seeding
    config = VismaSandboxConfig(spike_interval_seconds=0, files_per_type={7101: 1}, start=start)
    sandbox = VismaSandbox(config, tmp_path)
    (row,) = sandbox.files()
    uploaded = datetime.fromisoformat(row["upload_date"]).timestamp()
    with sandbox.serve() as url, httpx.Client(base_url=url) as root:
        for moment, status in ((uploaded + 30 * DAY, 200), (uploaded + 31 * DAY + 1, 404)):
            sandbox.set_clock_offset(moment - time.time())
            response = root.get(f"/v1.0/files/{row['id']}", params=SUB, headers=bearer(root))
            assert response.status_code == status


def test_metadata_leaves_the_lists_after_six_months(
    sandbox: VismaSandbox, api: httpx.Client, root: httpx.Client
):
    sandbox.advance(183 * DAY)
    _refresh(api, root)
    item = next(iter(_listed(api).values()))
    sandbox.advance(2 * DAY)
    _refresh(api, root)
    assert _listed(api) == {}
    gone = api.get(f"/files/{item['fileId']}", params=SUB)
    assert gone.status_code == 404 and gone.json()["message"] == "File not found."
    assert api.delete(f"/files/{item['fileId']}", params=SUB).status_code == 404


def test_no_retention(tmp_path: Path):
    config = VismaSandboxConfig(
        spike_interval_seconds=0,
        files_per_type={7101: 1},
        retention_days=None,
        metadata_retention_days=None,
    )
    sandbox = VismaSandbox(config, tmp_path)
    sandbox.advance(3 * 365 * DAY)
    (row,) = sandbox.files()
    with sandbox.serve() as url, httpx.Client(base_url=url) as root:
        headers = bearer(root)
        assert len(root.get("/v1.0/files", params=SUB, headers=headers).json()["data"]) == 1
        got = root.get(f"/v1.0/files/{row['id']}", params=SUB, headers=headers)
        assert got.content == sandbox.file_bytes(row["id"])


def test_expire_one_files_content_now(sandbox: VismaSandbox, api: httpx.Client, root):
    mutations = [f for f in sandbox.files() if f["business_type"] == 101100]
    gone, kept = mutations[0], mutations[1]
    response = root.post("/_sandbox/faults", json={"expired_files": [gone["name"]]})
    assert response.json()["expired_files"] == [gone["name"]]
    assert api.get(f"/files/{gone['id']}", params=SUB).json() == EXPIRED
    assert api.head(f"/files/{gone['id']}", params=SUB).status_code == 404
    assert api.get(f"/files/{kept['id']}", params=SUB).status_code == 200
    assert gone["id"] in _listed(api)
    sandbox.set_faults(expired_files=(kept["name"],))
    assert api.get(f"/files/{gone['id']}", params=SUB).status_code == 200
    sandbox.clear_faults()
    assert root.post("/_sandbox/faults", json={"expired_files": "x.csv"}).status_code == 422


def test_publisher_files_are_retained_a_month_too(
    sandbox: VismaSandbox, api: httpx.Client, root: httpx.Client
):
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
    own = f"/files/{created['id']}"
    sandbox.advance(31 * DAY + 1)
    _refresh(api, root)
    assert api.get(own, params={"role": "publisher"}).json() == EXPIRED
    assert [i["fileId"] for i in _listed_publisher(api)] == [created["id"]]


def _listed_publisher(api: httpx.Client) -> list[dict]:
    return api.get("/files", params={"role": "publisher"}).json()["data"]


def test_seeded_at_is_kept_and_old_state_dirs_gain_delivery_times(tmp_path: Path):
    first = VismaSandbox(FAST, tmp_path / "state")
    seeded_at = first.state.seeded_at
    first.advance(40 * DAY)
    with closing(sqlite3.connect(first.state.path)) as db:  # a state from before retention
        db.execute("ALTER TABLE files DROP COLUMN delivered_at")
    again = VismaSandbox(FAST, tmp_path / "state")
    assert again.state.seeded_at == seeded_at
    assert all(row["delivered_at"] is None for row in again.files())
