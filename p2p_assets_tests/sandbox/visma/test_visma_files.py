"""Listing, paging, the $filter grammar, downloads with Range, delete and faults."""

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox

SUB = {"role": "subscriber"}


def _list(api: httpx.Client, **params) -> dict:
    response = api.get("/files", params={"role": "subscriber", **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_paging_and_default_order(api: httpx.Client, sandbox: VismaSandbox):
    first, second = _list(api, pageSize=10), _list(api, pageSize=10, pageIndex=1)
    assert first["count"] == second["count"] == 17
    assert (first["pageIndex"], first["pageSize"], len(first["data"]), len(second["data"])) == (
        0,
        10,
        10,
        7,
    )
    dates = [item["uploadDate"] for item in first["data"] + second["data"]]
    assert dates == sorted(dates, reverse=True) and all(d.endswith("Z") for d in dates)
    assert set(first["data"][0]) == {
        "downloaded", "fileId", "fileName", "fileSize", "tenantId", "businessType",
        "publisherId", "uploadDate", "deleted", "deletedDate",
    }  # fmt: skip
    assert api.get("/files", params={**SUB, "pageSize": 1001}).status_code == 400


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("businessType eq 113003", 3),
        ("BusinessType eq 134000 or businessType eq 134001", 5),
        ("businessType ne 7101", 14),
        ("startsWith(FileName, 'RPD.SANDBOX.')", 3),
        ("endsWith(fileName, '_SEPA.zip')", 1),
        ("contains(filename, 'SEPA')", 5),
        ("startsWith(FileName, 'RPD') and businessType eq 113003", 3),
        ("status eq 'all' and (businessType eq 101100 or businessType eq 101002)", 6),
        ("uploadDate gt 2024-03-03T00:00:00.000Z", 10),
        ("uploadDate ge 2024-03-01T00:00:00Z and uploadDate lt 2024-03-03T00:00:00Z", 7),
        ("fileName eq 'sandbox_test_file_000.xml'", 1),
        ("status eq 'downloaded'", 0),
        # Forms Visma's own collection and scripts send: a call compared with a boolean, and
        # the text before the field.
        ("startsWith(FileName,'RPD') eq false", 14),
        ("startsWith(FileName,'RPD') eq true", 3),
        ("startsWith(FileName,'RPD') ne true", 14),
        ("endsWith('_SEPA.zip', FileName)", 1),
        ("contains('SEPA', fileName) and businessType eq 134000", 2),
        ("endsWith('.txt', FileName) eq false and businessType eq 7101", 2),
        ("(endsWith('.xml', FileName) eq true or businessType eq 113003)", 6),
    ],
)
def test_filter_grammar(api: httpx.Client, expression: str, expected: int):
    assert _list(api, **{"$filter": expression})["count"] == expected


@pytest.mark.parametrize(
    "expression",
    [
        "businessType eq",
        "foo eq 1",
        "businessType xx 7101",
        "(businessType eq 7101",
        "startsWith(FileName,'x') eq maybe",
        "startsWith(FileName,'x') gt false",
        "endsWith('a', 'b')",
        "startsWith(businessType, '1')",
    ],
)
def test_bad_filters_answer_400(api: httpx.Client, expression: str):
    response = api.get("/files", params={**SUB, "$filter": expression})
    assert response.status_code == 400
    assert set(response.json()) == {"CorrelationId", "Message", "ErrorCode", "Exception"}


@pytest.mark.parametrize(
    "query",
    [
        "$filter=businessType%20eq%20101100&$orderBy=uploadDate%20asc",  # Visma's scripts
        "%24filter=businessType+eq+101100&%24orderBy=uploadDate+asc",  # a form encoder
        "$filter=businessType+eq+101100&%24orderby=uploadDate%20asc",
    ],
)
def test_query_strings_as_clients_encode_them(api: httpx.Client, query: str):
    response = api.get(f"/files?role=subscriber&{query}")
    assert response.request.url.query.decode() == f"role=subscriber&{query}"  # sent as written
    names = [item["fileName"] for item in response.json()["data"]]
    assert len(names) == 4 and names == sorted(names)


def test_unsubscribed_business_type_is_403(api: httpx.Client):
    assert api.get("/files", params={**SUB, "$filter": "businessType eq 999"}).status_code == 403


def test_order_by(api: httpx.Client):
    items = _list(api, **{"$filter": "businessType eq 101100", "$orderBy": "uploadDate asc"})
    names = [item["fileName"] for item in items["data"]]
    assert names == sorted(names) and names[0].endswith("_000.csv")
    by_name = _list(api, **{"$orderBy": "fileName desc", "pageSize": 100})["data"]
    assert [i["fileName"] for i in by_name] == sorted(
        (i["fileName"] for i in by_name), reverse=True
    )


def test_count_shrinks_as_files_are_downloaded(api: httpx.Client, sandbox: VismaSandbox):
    listed = _list(api, **{"$filter": "businessType eq 134001"})
    assert listed["count"] == 3
    file_id = listed["data"][0]["fileId"]
    download = api.get(f"/files/{file_id}", params=SUB)
    assert download.content == sandbox.file_bytes(file_id)
    assert _list(api, **{"$filter": "businessType eq 134001"})["count"] == 2
    everything = _list(api, **{"$filter": "businessType eq 134001 and status eq 'all'"})
    assert everything["count"] == 3
    downloaded = _list(api, **{"$filter": "status eq 'downloaded'"})["data"]
    assert [(i["fileId"], i["downloaded"]) for i in downloaded] == [(file_id, True)]


def test_head_range_and_416(api: httpx.Client, sandbox: VismaSandbox):
    item = _list(api, **{"$filter": "businessType eq 113003"})["data"][0]
    content, url = sandbox.file_bytes(item["fileId"]), f"/files/{item['fileId']}"
    size = len(content)
    head = api.head(url, params=SUB)
    assert (head.headers["Content-Length"], head.headers["Accept-Ranges"]) == (str(size), "bytes")
    part = api.get(url, params=SUB, headers={"Range": "bytes=0-49"})
    assert part.status_code == 206 and part.content == content[:50]
    assert part.headers["Content-Range"] == f"bytes 0-49/{size}"
    assert "attachment; filename=" in part.headers["Content-Disposition"]
    assert _list(api, **{"$filter": "businessType eq 113003"})["count"] == 3  # not yet complete
    beyond = api.get(url, params=SUB, headers={"Range": f"bytes={size}-{size + 3}"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.json() == {
        "correlationId": None,
        "message": "Range not satisfiable.",
        "errorCode": "416",
        "exception": None,
    }
    rest = api.get(url, params=SUB, headers={"Range": "bytes=50-"})
    assert part.content + rest.content == content
    assert _list(api, **{"$filter": "businessType eq 113003"})["count"] == 2


def test_delete_hides_the_file(api: httpx.Client):
    item = _list(api)["data"][0]
    assert api.delete(f"/files/{item['fileId']}", params=SUB).status_code == 204
    assert _list(api)["count"] == 16
    everything = _list(api, **{"$filter": "status eq 'all'", "pageSize": 100})["data"]
    deleted = next(i for i in everything if i["fileId"] == item["fileId"])
    assert deleted["deleted"] is True and deleted["deletedDate"]
    assert api.get(f"/files/{item['fileId']}", params=SUB).status_code == 404
    assert api.delete(f"/files/{item['fileId']}", params=SUB).status_code == 404


def test_drop_and_fail_next_faults(api: httpx.Client, sandbox: VismaSandbox):
    item = _list(api)["data"][0]
    sandbox.set_faults(drop_next_downloads=1, drop_after_bytes=10, fail_next=[{"status": 503}])
    assert api.get("/files", params=SUB).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(f"/files/{item['fileId']}", params=SUB)
    assert _list(api)["count"] == 17  # the cut download did not count
    assert api.get(f"/files/{item['fileId']}", params=SUB).status_code == 200
    assert sandbox.counters()["failed_503"] == 1


def test_corrupt_named_file(api: httpx.Client, sandbox: VismaSandbox, root: httpx.Client):
    item = _list(api)["data"][0]
    content = sandbox.file_bytes(item["fileId"])
    root.post("/_sandbox/faults", json={"corrupt_files": {item["fileName"]: "truncated"}})
    assert api.get(f"/files/{item['fileId']}", params=SUB).content == content[: len(content) // 2]
    sandbox.set_faults(corrupt_files={item["fileName"]: "garbage"})
    garbled = api.get(f"/files/{item['fileId']}", params=SUB).content
    assert len(garbled) == len(content) and garbled != content


def test_deliver_publishes_newer_files(api: httpx.Client, sandbox: VismaSandbox, root):
    newest = _list(api)["data"][0]["uploadDate"]
    delivered = sandbox.deliver(113003, 2)
    assert root.post("/_sandbox/deliver", json={"businessType": 134000}).status_code == 200
    after = _list(api, **{"$filter": f"uploadDate gt {newest}"})
    assert after["count"] == 3
    assert {d["name"] for d in delivered} <= {i["fileName"] for i in after["data"]}


def test_large_file_chunked_download(tmp_path):
    from p2p_assets.sandbox.visma import VismaSandboxConfig

    config = VismaSandboxConfig(
        spike_interval_seconds=0, files_per_type={}, large_file_bytes=2_500_000
    )
    sandbox = VismaSandbox(config, tmp_path)
    (large,) = sandbox.files()
    assert large["size"] == 2_500_000
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        from p2p_assets_tests.sandbox.visma.conftest import connect_token

        headers = {"Authorization": f"Bearer {connect_token(client)}"}
        chunks, start = [], 0
        while start < large["size"]:
            response = client.get(
                f"/v1.0/files/{large['id']}?role=subscriber",
                headers={**headers, "Range": f"bytes={start}-{start + 999_999}"},
            )
            assert response.status_code == 206
            chunks.append(response.content)
            start += len(response.content)
    assert b"".join(chunks) == sandbox.file_bytes(large["id"])
