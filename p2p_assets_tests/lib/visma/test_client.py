"""Listing (every page first), chunked resumable downloads, uploads and file-name rules."""

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.visma import (
    VismaDownloadError,
    VismaFile,
    VismaFileNameError,
    validate_file_name,
)
from p2p_assets_tests.lib.visma.fakes import CutStream, FakeVisma, json_response, make_client


def item(n: int, **extra: object) -> dict[str, object]:
    return {"downloaded": False, "fileId": f"id-{n}", "fileName": f"f{n}.xml", "fileSize": 10,
            "tenantId": "sandbox", "businessType": {"id": 7101, "name": "7101"},
            "uploadDate": f"2021-03-25T07:30:{n:02d}.657Z", **extra}  # fmt: skip


def test_list_reads_every_page_before_returning() -> None:
    fake = FakeVisma()
    files = [item(n) for n in range(5)]
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        seen.append(dict(params))
        index, size = int(params["pageIndex"]), int(params["pageSize"])
        page = files[index * size : (index + 1) * size]
        return json_response(200, {"data": page, "pageIndex": index, "pageSize": size,
                                   "count": len(files)})  # fmt: skip

    fake.route("GET", "/files", handler)
    with make_client(fake) as client:
        listed = client.list_files("businessType eq 7101", page_size=2)
    assert [f.file_id for f in listed] == [f"id-{n}" for n in range(5)]
    assert [s["pageIndex"] for s in seen] == ["0", "1", "2"]
    assert seen[0]["$filter"] == "businessType eq 7101"
    assert seen[0]["$orderBy"] == "uploadDate asc" and seen[0]["role"] == "subscriber"
    assert listed[0].upload_date == datetime(2021, 3, 25, 7, 30, 0, 657000, tzinfo=UTC)


def test_models_read_publisher_items_and_upload_answers() -> None:
    publisher = VismaFile.from_api({"fileId": "a", "fileName": "x.txt", "fileSize": "2048",
                                    "businessType": {"id": 7100}, "extra": 1,
                                    "uploadDate": "2021-01-10T21:05:41.937"})  # fmt: skip
    assert publisher.upload_date == datetime(2021, 1, 10, 21, 5, 41, 937000, tzinfo=UTC)
    assert publisher.downloaded is False and publisher.deleted is False
    assert publisher.file_size == 2048 and publisher.business_type_name is None
    uploaded = VismaFile.from_api({"id": "7ff1", "name": "TestFile.txt", "size": 19,
                                   "creationDate": "2020-02-27T11:03:49.2033291Z",
                                   "businessType": {"id": 7100, "name": "7100"}})  # fmt: skip
    assert (uploaded.file_id, uploaded.file_size, uploaded.business_type_id) == ("7ff1", 19, 7100)
    assert VismaFile.from_api({**item(1), "deleted": True}).deleted is True


class RangeServer:
    """Serves `content` by HEAD and Range GET; `cut_after` cuts the first GET after N bytes."""

    def __init__(self, content: bytes, cut_after: int | None = None, head_size: int | None = None):
        self.content = content
        self.cut_after = cut_after
        self.head_size = len(content) if head_size is None else head_size
        self.ranges: list[str] = []

    def head(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(self.head_size),
                                            "Accept-Ranges": "bytes"})  # fmt: skip

    def get(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Range")
        self.ranges.append(header or "whole")
        if header is None:  # a plain GET: the whole file
            if self.cut_after is not None:
                cut, self.cut_after = self.cut_after, None
                return httpx.Response(200, headers={"Content-Length": str(len(self.content))},
                                      stream=CutStream(self.content[:cut]))  # fmt: skip
            return httpx.Response(200, content=self.content)
        first, last = (int(x) for x in header.removeprefix("bytes=").split("-"))
        total = len(self.content)
        if first >= total:
            return json_response(416, {"correlationId": None, "message": "Range not satisfiable.",
                                       "errorCode": "416", "exception": None},
                                 **{"Content-Range": f"bytes */{total}"})  # fmt: skip
        body = self.content[first : last + 1]
        headers = {"Content-Range": f"bytes {first}-{first + len(body) - 1}/{total}"}
        if self.cut_after is not None:
            cut, self.cut_after = self.cut_after, None
            return httpx.Response(206, headers=headers, stream=CutStream(body[:cut]))
        return httpx.Response(206, headers=headers, content=body)

    def install(self, fake: FakeVisma, file_id: str = "id-1") -> None:
        fake.route("HEAD", f"/files/{file_id}", self.head)
        fake.route("GET", f"/files/{file_id}", self.get)


def test_a_small_file_costs_one_plain_get(tmp_path: Path) -> None:
    content = b"a;b\r\n\r\n1;2\r\n" * 100
    server = RangeServer(content)
    fake = FakeVisma()
    server.install(fake)
    with make_client(fake) as client:
        path, size, _ = client.download(
            VismaFile.from_api(item(1, fileSize=len(content))), tmp_path
        )
    assert path.read_bytes() == content and size == len(content)
    calls = [(r.method, r.headers.get("Range")) for r in fake.api_requests()]
    assert calls == [("GET", None)]
    assert fake.api_requests()[0].headers["Accept"] == "application/octet-stream"


def test_a_cut_plain_get_resumes_by_ranges_from_the_partial_offset(tmp_path: Path) -> None:
    content = bytes(range(256)) * 4  # 1024 bytes
    server = RangeServer(content, cut_after=100)
    fake = FakeVisma()
    server.install(fake)
    file = VismaFile.from_api(item(1, fileSize=1024))
    with make_client(fake) as client:
        path, size, sha = client.download(file, tmp_path, chunk_size=400)
    assert server.ranges == ["whole", "bytes=100-499", "bytes=500-899", "bytes=900-1023"]
    assert path == tmp_path / "f1.xml" and path.read_bytes() == content and size == 1024
    import hashlib

    assert sha == hashlib.sha256(content).hexdigest()
    assert not (tmp_path / "f1.xml.partial").exists()
    get = [r for r in fake.api_requests() if r.method == "GET"][0]
    assert get.headers["Accept"] == "application/octet-stream"
    assert get.url.params["role"] == "subscriber"


def test_download_continues_a_partial_left_by_an_earlier_run(tmp_path: Path) -> None:
    content = b"x" * 300
    (tmp_path / "f1.xml.partial").write_bytes(content[:120])
    server = RangeServer(content)
    fake = FakeVisma()
    server.install(fake)
    with make_client(fake) as client:
        client.download(VismaFile.from_api(item(1)), tmp_path, chunk_size=1000)
    assert server.ranges == ["bytes=120-299"]


def test_download_416_means_the_partial_holds_everything(tmp_path: Path) -> None:
    content = b"y" * 107
    (tmp_path / "f1.xml.partial").write_bytes(content)
    server = RangeServer(content, head_size=150)  # a stale size
    fake = FakeVisma()
    server.install(fake)
    with make_client(fake) as client:
        _, size, _ = client.download(VismaFile.from_api(item(1)), tmp_path)
    assert server.ranges == ["bytes=107-149"] and size == 107
    assert (tmp_path / "f1.xml").read_bytes() == content


def test_download_size_mismatch_is_refused(tmp_path: Path) -> None:
    fake = FakeVisma()
    RangeServer(b"z" * 50, head_size=60).install(fake)
    with make_client(fake) as client, pytest.raises(VismaDownloadError, match="60"):
        client.download(VismaFile.from_api(item(1, fileSize=None)), tmp_path)  # ranges
    assert not (tmp_path / "f1.xml").exists()


def test_a_plain_get_shorter_than_announced_is_refused(tmp_path: Path) -> None:
    fake = FakeVisma()
    fake.route("GET", "/files/id-1", lambda _: httpx.Response(
        200, headers={"Content-Length": "60"}, stream=httpx.ByteStream(b"z" * 50)))  # fmt: skip
    with make_client(fake) as client, pytest.raises(VismaDownloadError, match="expected 60"):
        client.download(VismaFile.from_api(item(1)), tmp_path)
    assert not (tmp_path / "f1.xml").exists()


def test_list_queries_are_sent_as_vismas_own_scripts_send_them() -> None:
    fake = FakeVisma()
    fake.route("GET", "/files", lambda _: json_response(200, {"data": [], "count": 0}))
    with make_client(fake) as client:
        client.list_files("businessType eq 101100 and startsWith(FileName, 'a b')")
    query = fake.api_requests()[0].url.query.decode()
    assert "$filter=businessType%20eq%20101100%20and%20startsWith(FileName,%20'a%20b')" in query
    assert "$orderBy=uploadDate%20asc" in query and "+" not in query and "%24" not in query


def test_download_gives_up_after_repeated_cuts_without_progress(tmp_path: Path) -> None:
    fake = FakeVisma()
    fake.route(
        "HEAD", "/files/id-1", lambda _: httpx.Response(200, headers={"Content-Length": "9"})
    )
    fake.route("GET", "/files/id-1", lambda _: httpx.Response(
        206, headers={"Content-Range": "bytes 0-8/9"}, stream=CutStream()))  # fmt: skip
    with make_client(fake, download_attempts=3) as client, pytest.raises(VismaDownloadError):
        client.download(VismaFile.from_api(item(1)), tmp_path)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("TestFile.txt", True),
        ("RPD.sandbox.2024-01-01.csv", True),
        ("a(1),$+`='_-.xml", True),
        ("with space.txt", False),
        ("slash/evil.txt", False),
        ("umlaut_ä.txt", False),
        ("semi;colon.txt", False),
        ("virus.exe", False),
        ("script.PS1", False),
        ("double.exe.txt", False),
        ("", False),
        ("..", False),
        ("x" * 256, False),
    ],
)
def test_file_name_rules(name: str, ok: bool) -> None:
    if ok:
        assert validate_file_name(name) == name
    else:
        with pytest.raises(VismaFileNameError):
            validate_file_name(name)


def test_upload_refuses_a_bad_name_before_sending(tmp_path: Path) -> None:
    source = tmp_path / "ok.txt"
    source.write_bytes(b"data")
    fake = FakeVisma()
    with make_client(fake) as client, pytest.raises(VismaFileNameError, match="bad name"):
        client.upload(source, 7100, name="bad name.txt")
    assert fake.requests == []


def created(name: str, size: int) -> httpx.Response:
    return json_response(201, {"id": "new-1", "name": name, "size": size,
                               "creationDate": "2020-02-27T11:03:49.2033291Z",
                               "tenantId": "sandbox", "businessType": {"id": 7100, "name": "7100"},
                               "numChunks": 1})  # fmt: skip


def test_multipart_upload_body_uses_crlf_and_the_metadata_part(tmp_path: Path) -> None:
    source = tmp_path / "TestFile.txt"
    source.write_bytes(b"This is a test file\nline two\n")
    fake = FakeVisma()
    fake.route("POST", "/files", lambda r: created("TestFile.txt", 29))
    with make_client(fake) as client:
        uploaded = client.upload(source, 7100)
    assert uploaded.file_id == "new-1" and uploaded.file_size == 29
    request = fake.api_requests()[0]
    assert request.url.params["uploadType"] == "multipart"
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/related; boundary=")
    boundary = content_type.split("boundary=")[1]
    assert len(boundary) <= 70
    body = request.content
    expected = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
        + json.dumps({"name": "TestFile.txt", "businesstypeid": "7100"}).encode()
        + f"\r\n--{boundary}\r\n\r\n".encode()
        + b"This is a test file\nline two\n"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert body == expected


def test_resumable_upload_numbers_chunks_and_closes(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"a" * 10 + b"b" * 10 + b"c" * 5)
    fake = FakeVisma()
    puts: list[tuple[dict[str, str], bytes]] = []
    fake.route("POST", "/files", lambda r: json_response(206, {"uploadToken": "up-tok"}))

    def put(request: httpx.Request) -> httpx.Response:
        puts.append((dict(request.url.params), request.content))
        if request.url.params.get("close") == "true":
            return created("big.csv", 25)
        return httpx.Response(206)

    fake.route("PUT", "/files", put)
    with make_client(fake) as client:
        uploaded = client.upload(source, 7100, resumable=True, chunk_size=10)
    assert uploaded.file_id == "new-1"
    first = fake.api_requests()[0]
    assert first.url.params["uploadType"] == "resumable"
    assert b"\r\n\r\n" + b"a" * 10 + b"\r\n--" in first.content
    assert puts == [
        ({"uploadType": "resumable", "uploadToken": "up-tok", "position": "1"}, b"b" * 10),
        ({"uploadType": "resumable", "uploadToken": "up-tok", "position": "2", "close": "true"},
         b"c" * 5),
    ]  # fmt: skip


def test_resumable_upload_of_one_chunk_closes_with_an_empty_post(tmp_path: Path) -> None:
    source = tmp_path / "small.csv"
    source.write_bytes(b"tiny")
    fake = FakeVisma()
    posts = []

    def post(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        if "uploadToken" in request.url.params:
            return created("small.csv", 4)
        return json_response(206, {"uploadToken": "up-tok"})

    fake.route("POST", "/files", post)
    with make_client(fake) as client:
        client.upload(source, 7100, resumable=True)
    assert len(posts) == 2 and posts[1].content == b""
    assert "Content-Type" not in posts[1].headers


def test_a_listed_file_whose_id_or_name_is_not_plain_is_refused_alone() -> None:
    from p2p_assets.lib.visma.discovery import list_available

    fake = FakeVisma()
    files = [
        item(1),
        item(2, fileId="../../escape"),
        item(3, fileName="file.json"),  # our own catalogue entry's name
        item(4, fileName="a*b.xml"),
        item(5),
    ]
    fake.route("GET", "/files", lambda request: json_response(
        200, {"data": files, "pageIndex": 0, "pageSize": 1000, "count": len(files)}
    ))  # fmt: skip
    with make_client(fake) as client:
        listing = list_available(client, (7101,))
    assert [f.file_id for f in listing.files[7101]] == ["id-1", "id-5"]
    assert len(listing.refused) == 3
    assert "'../../escape'" in listing.refused[0] and "'file.json'" in listing.refused[1]
    assert "'a*b.xml'" in listing.refused[2]
