"""Multipart and resumable uploads, and the publisher list."""

import httpx
import pytest

CT = {"Content-Type": "multipart/related; boundary=foo_bar_baz"}


def _multipart(name: str, content: bytes, newline: bytes = b"\r\n", bt: str = "7100") -> bytes:
    meta = f'{{"name": "{name}", "businesstypeid": "{bt}"}}'.encode()
    return newline.join(
        [
            b"--foo_bar_baz",
            b"Content-Type: application/json; charset=UTF-8",
            b"",
            meta,
            b"--foo_bar_baz",
            b"",
            content,
            b"--foo_bar_baz--",
            b"",
        ]
    )


def test_multipart_upload_and_publisher_list(api: httpx.Client):
    body = _multipart("TestFile.txt", b"This is a test file")
    response = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["name"], created["size"], created["numChunks"]) == ("TestFile.txt", 19, 1)
    assert created["businessType"] == {"id": 7100, "name": "7100"}
    listed = api.get("/files", params={"role": "publisher"}).json()
    (item,) = listed["data"]
    assert "downloaded" not in item and not item["uploadDate"].endswith("Z")
    assert listed["count"] == 1
    own = api.get(f"/files/{created['id']}", params={"role": "publisher"})
    assert own.content == b"This is a test file"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_multipart("bad name!.txt", b"x"), "not allowed"),
        (_multipart("payload.exe", b"x"), "extension"),
        (_multipart("TestFile.txt", b"x", newline=b"\n"), "boundaries"),
    ],
)
def test_multipart_upload_refusals(api: httpx.Client, body: bytes, message: str):
    response = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"CorrelationId", "Message", "ErrorCode", "Exception"}
    assert message in error["Message"] and error["ErrorCode"] == "400"


def test_upload_to_unpublished_type_is_403(api: httpx.Client):
    body = _multipart("TestFile.txt", b"x", bt="7101")
    response = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert response.status_code == 403


@pytest.mark.parametrize("close_with_post", [False, True])
def test_resumable_upload_round_trip(api: httpx.Client, close_with_post: bool):
    chunks = [b"A" * 1000, b"B" * 1000, b"tail"]
    first = api.post(
        "/files", params={"uploadType": "resumable"}, headers=CT, content=_multipart("Big.csv", b"")
    )
    assert first.status_code == 206
    token = first.json()["uploadToken"]
    octets = {"Content-Type": "application/octet-stream"}
    for position, chunk in enumerate(chunks, start=1):
        params = {"uploadType": "resumable", "uploadToken": token, "position": position}
        if position == len(chunks) and not close_with_post:
            params["close"] = "true"
        response = api.put("/files", params=params, headers=octets, content=chunk)
        if position < len(chunks) or close_with_post:
            assert (response.status_code, response.content) == (206, b"")
    if close_with_post:
        response = api.post("/files", params={"uploadType": "resumable", "uploadToken": token})
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["size"], created["numChunks"]) == (2004, 3)
    own = api.get(f"/files/{created['id']}", params={"role": "publisher"})
    assert own.content == b"".join(chunks)
    again = api.put(
        "/files", params={"uploadType": "resumable", "uploadToken": token, "position": 4}
    )
    assert again.status_code == 400


def test_resumable_upload_with_a_gap_is_refused(api: httpx.Client):
    first = api.post(
        "/files", params={"uploadType": "resumable"}, headers=CT, content=_multipart("G.csv", b"")
    )
    token = first.json()["uploadToken"]
    params = {"uploadType": "resumable", "uploadToken": token, "position": 2, "close": "true"}
    response = api.put("/files", params=params, content=b"x")
    assert response.status_code == 400 and "Missing chunks" in response.json()["Message"]


def test_business_type_and_heartbeat(api: httpx.Client, root: httpx.Client):
    extended = api.get("/businesstypes/134001", params={"extended": "true"}).json()
    assert extended["subscriber"] is True and extended["publisher"] is False
    assert api.get("/businesstypes/1").status_code == 404
    assert root.get("/v1.0/heartbeat").status_code == 200
