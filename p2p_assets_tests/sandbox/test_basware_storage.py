"""Downloads redirected to a separate storage host (`storage_host`), which answers pre-signed URLs
as S3 does: re-sent API credentials are refused, signatures are checked, downloads are counted."""

import dataclasses
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox
from p2p_assets.sandbox.basware.storage import presigned_url
from p2p_assets_tests.sandbox.helpers import (
    BASIC,
    SMALL,
    extract_ids,
    file_entry,
    json_records,
    record_count,
)

STORAGE_HOST = "127.0.0.2"  # every 127.x address is loopback on Linux: "another host"
ONE_AUTH = (
    "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the "
    "X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization "
    "header should be specified</Message></Error>"
)


@pytest.fixture
def storage_sandbox(tmp_path: Path) -> BaswareSandbox:
    config = dataclasses.replace(SMALL, storage_host=STORAGE_HOST)
    return BaswareSandbox(config, tmp_path / "state")


@pytest.fixture
def api(storage_sandbox: BaswareSandbox) -> Iterator[httpx.Client]:
    with storage_sandbox.serve() as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _location(api: httpx.Client) -> tuple[dict, str]:
    entry = file_entry(api)
    redirect = api.get(entry["downloadUrl"], auth=BASIC)
    assert redirect.status_code == 302
    return entry, redirect.headers["Location"]


def test_get_file_redirects_to_a_presigned_url_on_the_storage_host(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry, location = _location(api)
    url = urlsplit(location)
    assert f"{url.scheme}://{url.netloc}" == storage_sandbox.storage_url
    assert url.hostname == STORAGE_HOST and url.port
    assert url.path == f"/{extract_ids(api)[0]}/{entry['fileName']}"
    query = parse_qs(url.query)
    assert set(query) == {"expires", "signature"}
    assert int(query["expires"][0]) > time.time()
    assert storage_sandbox.download_counts() == {}  # the redirect is not a download


def test_following_the_redirect_without_credentials_downloads(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry = file_entry(api)
    # httpx drops Authorization when a redirect leaves the origin, as browsers do.
    response = api.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    assert response.status_code == 200
    assert urlsplit(str(response.url)).hostname == STORAGE_HOST
    assert len(json_records(response.content)) == record_count(storage_sandbox, entry["fileName"])
    assert storage_sandbox.download_counts() == {(extract_ids(api)[0], entry["fileName"]): 1}


@pytest.mark.parametrize(
    "authorization", ["Basic c2FuZGJveC11c2VyOnNhbmRib3gtcGFzc3dvcmQ=", "Bearer abc.def.ghi"]
)
def test_re_sent_credentials_are_refused_and_not_counted(
    storage_sandbox: BaswareSandbox, api: httpx.Client, authorization: str
):
    _, location = _location(api)
    refused = httpx.get(location, headers={"Authorization": authorization})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/xml"
    assert ONE_AUTH in refused.text
    assert storage_sandbox.download_counts() == {}
    assert httpx.get(location).status_code == 200  # the same URL, alone, works


def test_missing_wrong_or_expired_signatures_are_403(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry, location = _location(api)
    url = urlsplit(location)
    bare = f"{url.scheme}://{url.netloc}{url.path}"
    assert httpx.get(bare).status_code == 403
    tampered = location.replace("signature=", "signature=0")
    wrong = httpx.get(tampered)
    assert wrong.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in wrong.text
    other_file = location.replace(entry["fileName"], entry["fileName"].replace("0001", "0002"))
    assert httpx.get(other_file).status_code == 403  # a signature covers one file only
    key = storage_sandbox.state.signing_key()
    expired_url = presigned_url(
        storage_sandbox.storage_url or "",
        key,
        extract_ids(api)[0],
        entry["fileName"],
        expires=int(time.time()) - 1,
    )
    expired = httpx.get(expired_url)
    assert expired.status_code == 403 and "Request has expired" in expired.text
    assert storage_sandbox.download_counts() == {}


def test_head_is_free_and_get_counts_and_streams(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry, location = _location(api)
    head = httpx.head(location)
    assert head.status_code == 200 and int(head.headers["content-length"]) > 0
    assert storage_sandbox.download_counts() == {}
    with httpx.stream("GET", location) as response:
        content = b"".join(response.iter_bytes())
    assert len(content) == int(head.headers["content-length"])
    assert len(json_records(content)) == record_count(storage_sandbox, entry["fileName"])
    assert sum(storage_sandbox.download_counts().values()) == 1


def test_download_limit_is_enforced_on_the_storage_host(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry, location = _location(api)
    for _ in range(SMALL.download_limit):
        assert httpx.get(location).status_code == 200
    refused = httpx.get(location)
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    again = api.get(entry["downloadUrl"], auth=BASIC)
    assert again.status_code == 403 and "limit" in again.json()["message"].lower()
    counts = storage_sandbox.download_counts()
    assert counts == {(extract_ids(api)[0], entry["fileName"]): SMALL.download_limit}


def test_download_faults_apply_on_the_storage_host(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    entry = file_entry(api)
    assert api.post("/_sandbox/faults", json={"drop_next_downloads": 1}).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    whole = api.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    assert len(json_records(whole.content)) == record_count(storage_sandbox, entry["fileName"])
    storage_sandbox.set_faults(corrupt_files={entry["fileName"]: "truncated"})
    cut = api.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    with pytest.raises((EOFError, zlib.error)):
        json_records(cut.content)
    assert sum(storage_sandbox.download_counts().values()) == 3


def test_storage_answers_unknown_files_and_methods_like_s3(
    storage_sandbox: BaswareSandbox, api: httpx.Client
):
    _, location = _location(api)
    assert httpx.post(location).status_code == 405
    url = urlsplit(location)
    missing = httpx.get(f"{url.scheme}://{url.netloc}/nothing")
    assert missing.status_code == 404 and "<Code>NoSuchKey</Code>" in missing.text
