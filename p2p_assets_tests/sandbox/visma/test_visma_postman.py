"""Visma's own Postman collection replayed against the sandbox, request by request as Postman
sends it: the legacy token call with `Cache-Control: no-cache`, the uploads with their raw
multipart bodies (the media part has no header fields), literal `$orderBy` with a space, and
the subscriber calls with `x-raet-tenant-id`.

`artifacts/visma-file-api-2022-01-19.postman_collection.json` is the vendor's file as published
(VR-API-Integration/personnel-file-api-documentation, commit 0013c3c,
docs/pages/guides/postman/download/2022-01-19.zip).
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox

COLLECTION = (
    Path(__file__).parent / "artifacts" / "visma-file-api-2022-01-19.postman_collection.json"
)
# The collection's third upload sends a local 4 MB file as the whole first request; this one has
# the shape that lost bytes before: a media part without header fields whose content has blank
# lines.
FIRST_CHUNK = (
    b"row;amount\r\n\r\n" + b"".join(b"%d;%d.50\r\n\r\n" % (i, i) for i in range(300_000))
)[: 4 * 1024 * 1024]
BIG_FIRST_REQUEST = (
    b"--foo_bar_baz\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
    b'{\r\n"name":"File_4M_File_API.txt",\r\n"businesstypeid":"7100"\r\n}\r\n\r\n'
    b"--foo_bar_baz\r\n\r\n" + FIRST_CHUNK + b"\r\n--foo_bar_baz--"
)


def _items(items: list[dict], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    for item in items:
        if "item" in item:
            yield from _items(item["item"], (*path, item["name"]))
        else:
            yield (*path, item["name"]), item["request"]


REQUESTS = list(_items(json.loads(COLLECTION.read_text())["item"]))


def _folder(*path: str) -> list[dict]:
    return [request for names, request in REQUESTS if names[: len(path)] == path]


class Postman:
    """Sends the collection's requests with its variables filled in, as Postman would."""

    def __init__(self, client: httpx.Client, url: str, variables: dict[str, str]):
        self.client = client
        self.variables = {"baseURL": f"{url}/mft/v1.0", "tokenURL": f"{url}/authentication/token"}
        self.variables.update(variables)
        self.upload_token: str | None = None
        self.file_id = ""

    def fill(self, text: str) -> str:
        return re.sub(r"\{\{(\w+)\}\}", lambda m: self.variables[m.group(1)], text)

    def send(self, request: dict[str, Any]) -> httpx.Response:
        # The collection's file ids are examples: send the one the test chose.
        url = re.sub(
            r"/files/[0-9a-f-]{36}", f"/files/{self.file_id}", self.fill(request["url"]["raw"])
        )
        if self.upload_token is not None:
            url = re.sub(r"uploadToken=\w+", f"uploadToken={self.upload_token}", url)
        headers = {h["key"]: self.fill(h["value"]) for h in request["header"] if h["key"]}
        body = request.get("body") or {}
        content: bytes | None = None
        if body.get("mode") == "raw":
            content = self.fill(body["raw"]).encode()
        elif body.get("mode") == "urlencoded":
            form = {f["key"]: self.fill(f["value"]) for f in body["urlencoded"]}
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = str(httpx.QueryParams(form)).encode()
        elif body.get("mode") == "file" and body["file"].get("src"):
            content = BIG_FIRST_REQUEST
        response = self.client.request(request["method"], url, headers=headers, content=content)
        if response.status_code == 206 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            self.upload_token = response.json()["uploadToken"]
        return response


@pytest.fixture
def postman(sandbox: VismaSandbox, base_url: str) -> Iterator[Postman]:
    config = sandbox.config
    variables = {
        "tenantId": config.tenant_id,
        "clientId": config.client_id,
        "clientSecret": config.client_secret,
    }
    with httpx.Client(timeout=30) as client:
        replay = Postman(client, base_url, variables)
        (token_request,) = _folder("GET Authentication Token")
        assert token_request["header"] == [
            {"key": "Cache-Control", "value": "no-cache", "type": "text"}
        ]
        response = replay.send(token_request)
        assert response.status_code == 200, response.text
        replay.variables["TOKEN"] = response.json()["access_token"]  # as its test script does
        yield replay


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("Upload Small File", b"This is a Test File."),
        (
            "Upload File closing in last chunk",
            b"This is a Test File.This is the second chunk of the file."
            b"This is the third chunk of the file.",
        ),
        (
            "Upload File closing in extra request",
            FIRST_CHUNK
            + b"This is the second chunk of the file.This is the third  chunk of the file.",
        ),
    ],
)
def test_the_collections_uploads_round_trip(postman: Postman, folder: str, expected: bytes):
    requests = _folder("Publisher Requests", folder)
    responses = [postman.send(request) for request in requests]
    assert [r.status_code for r in responses[:-1]] == [206] * (len(requests) - 1)
    created = responses[-1]
    assert created.status_code == 201, created.text
    assert created.json()["size"] == len(expected)
    postman.file_id = created.json()["id"]
    (download,) = _folder("Publisher Requests", "Download Publisher file")
    assert postman.send(download).content == expected
    (listing,) = _folder("Publisher Requests", "List Uploaded Files")
    listed = postman.send(listing).json()["data"]
    assert [item["fileId"] for item in listed] == [postman.file_id]


def test_the_collections_subscriber_requests(postman: Postman, sandbox: VismaSandbox):
    (listing,) = _folder("Subscriber Requests", "List Files")
    assert "$orderBy=uploadDate desc" in listing["url"]["raw"]  # literal $ and a space
    listed = postman.send(listing)
    assert listed.status_code == 200
    dates = [item["uploadDate"] for item in listed.json()["data"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 17
    newest = listed.json()["data"][0]
    postman.file_id = newest["fileId"]
    content = sandbox.file_bytes(newest["fileId"])
    by_name = {names[-1]: r for names, r in REQUESTS if names[0] == "Subscriber Requests"}
    head = postman.send(by_name["Head File"])
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(content)))
    part = postman.send(by_name["Download Partial File"])
    assert (part.status_code, part.content) == (206, content[:50])
    assert postman.send(by_name["Download Complete file"]).content == content
    assert postman.send(by_name["Delete File"]).status_code == 204
    (heartbeat,) = [r for names, r in REQUESTS if names == ("heartbeat",)]
    assert postman.send(heartbeat).status_code == 200
    (business_type,) = _folder("Business Types Requests")
    # 8000 is the guide's example type, unknown to the sandbox app: an answer, not an error.
    assert postman.send(business_type).status_code == 404
