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


ROUND_TRIPS = {
    "blank line after the header": b"a;b\r\n\r\n1;2\r\n",
    "CRLF CRLF at the very start": b"\r\n\r\nafter two blank lines\r\n",
    "one CRLF at the start": b"\r\nx",
    "LF-only lines": b"a;b\n\n1;2\n",
    "CRs and LFs mixed": b"\r\r\n\n\r\n\r\n--foo_bar_bazooka\r\n--foo_bar_baz-not\r\n",
    "empty": b"",
    "binary": bytes(range(256)) * 64,
}


def _refetch(api: httpx.Client, created: httpx.Response) -> bytes:
    assert created.status_code == 201, created.text
    return api.get(f"/files/{created.json()['id']}", params={"role": "publisher"}).content


@pytest.mark.parametrize("content", list(ROUND_TRIPS.values()), ids=list(ROUND_TRIPS))
def test_multipart_round_trip_is_byte_exact(api: httpx.Client, content: bytes):
    body = _multipart("RoundTrip.csv", content)
    created = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert _refetch(api, created) == content
    assert created.json()["size"] == len(content)


@pytest.mark.parametrize("content", list(ROUND_TRIPS.values()), ids=list(ROUND_TRIPS))
def test_resumable_round_trip_is_byte_exact(api: httpx.Client, content: bytes):
    first = api.post(
        "/files",
        params={"uploadType": "resumable"},
        headers=CT,
        content=_multipart("RoundTrip.csv", content),
    )
    token = first.json()["uploadToken"]
    params = {"uploadType": "resumable", "uploadToken": token, "position": 1, "close": "true"}
    last = api.put("/files", params=params, content=content)
    assert _refetch(api, last) == content + content


@pytest.mark.parametrize(
    "body",
    [
        # A preamble, spaces after the boundaries, header fields on the media part, an epilogue.
        b"preamble\r\n--foo_bar_baz  \r\nContent-Type: application/json\r\n\r\n"
        b'{"name": "P.txt", "businesstypeid": 7100}\r\n--foo_bar_baz\t\r\n'
        b"Content-Type: text/plain\r\n\r\n\r\nbody\r\n--foo_bar_baz--\r\nepilogue",
        # No CRLF after the close delimiter; the JSON metadata followed by a blank line.
        b"--foo_bar_baz\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        b'{"name": "P.txt", "businesstypeid": "7100"}\r\n\r\n--foo_bar_baz\r\n\r\n\r\nbody'
        b"\r\n--foo_bar_baz--",
    ],
    ids=["rfc2046-extras", "postman-shape"],
)
def test_multipart_forms_rfc_2046_allows(api: httpx.Client, body: bytes):
    created = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert _refetch(api, created) == b"\r\nbody"


@pytest.mark.parametrize(
    "body",
    [
        b"--foo_bar_baz\r\nContent-Type: application/json\r\n\r\n{}\r\n--foo_bar_baz--",
        b"--foo_bar_baz\r\n\r\nno metadata part\r\n--foo_bar_baz\r\n\r\nx\r\n--foo_bar_baz--",
        _multipart("T.txt", b"no close delimiter")[: -len(b"--foo_bar_baz--\r\n")],
        _multipart("T.txt", b"x").replace(b"\r\n--foo_bar_baz\r\n\r\nx", b""),
    ],
    ids=["one part", "metadata not json", "unclosed", "close only"],
)
def test_malformed_multipart_bodies_are_400(api: httpx.Client, body: bytes):
    response = api.post("/files", params={"uploadType": "multipart"}, headers=CT, content=body)
    assert response.status_code == 400, response.text
