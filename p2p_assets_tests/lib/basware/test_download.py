"""Downloading extract files: redirects with credentials, atomic landing, cuts, limits."""

import gzip
import hashlib
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.basware import (
    BaswareAPIError,
    BaswareClient,
    BaswareDownloadError,
    BaswareDownloadLimitError,
    BaswareOAuth2,
    BaswareResponseError,
    ExtractFile,
)
from p2p_assets_tests.lib.basware.fakes import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    CutStream,
    FakeBasware,
    json_response,
)

EXTRACT_ID = "0123456789abcdef0123456789abcdef"
FILE_NAME = "IA_INVOICE_0001.json.gz"
GET_FILE = f"/v1/dataExtracts/{EXTRACT_ID}/getFile"
STORAGE = "https://storage.basware.test/blob/abc"
PAYLOAD = gzip.compress(b'[{"ID": "1", "NET_SUM": 10.50}]' * 1000, mtime=0)


def body(content: bytes, **headers: str) -> httpx.Response:
    """An answer whose body is still a stream, as one from the network is."""
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(content))


def extract_file(name: str = FILE_NAME) -> ExtractFile:
    return ExtractFile.from_api(
        {
            "extractId": EXTRACT_ID,
            "tableName": "IA_INVOICE",
            "fileName": name,
            "downloadUrl": f"{BASE_URL}{GET_FILE}?file={name}",
        }
    )


def redirecting_fake(*bodies: httpx.Response) -> FakeBasware:
    """getFile redirects to a storage host on another origin, which answers `bodies` in turn."""
    fake = FakeBasware()
    fake.route(GET_FILE, httpx.Response(302, headers={"Location": f"{STORAGE}?sig=SIGNATURE"}))
    answers = list(bodies)
    fake.route("/blob/abc", lambda request: answers.pop(0))
    return fake


def make(fake: FakeBasware, download_attempts: int = 3) -> BaswareClient:
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET)
    return BaswareClient(
        BASE_URL,
        auth,
        transport=fake.transport,
        sleep=lambda _: None,
        download_attempts=download_attempts,
    )


def test_download_lands_atomically_with_sha256(tmp_path: Path) -> None:
    fake = redirecting_fake(body(PAYLOAD))
    with make(fake) as client:
        landed = client.download(extract_file(), tmp_path / "landing")
    assert landed.path == tmp_path / "landing" / FILE_NAME
    assert landed.path.read_bytes() == PAYLOAD
    assert landed.size == len(PAYLOAD)
    assert landed.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert sorted(p.name for p in landed.path.parent.iterdir()) == [FILE_NAME]


def test_download_redirect_keeps_authorization_on_the_storage_host(tmp_path: Path) -> None:
    fake = redirecting_fake(body(PAYLOAD))
    with make(fake) as client:
        client.download(extract_file(), tmp_path)
    hops = [(url, auth) for _, url, auth in fake.seen if "tokens" not in url]
    assert hops == [
        (f"{BASE_URL}{GET_FILE}?file={FILE_NAME}", "Bearer token-1"),
        (f"{STORAGE}?sig=SIGNATURE", "Bearer token-1"),
    ]
    assert fake.api_requests()[-1].headers["Accept-Encoding"] == "identity"


def test_gzip_file_sent_with_content_encoding_is_kept_compressed(tmp_path: Path) -> None:
    response = body(PAYLOAD, **{"Content-Encoding": "gzip"})
    fake = redirecting_fake(response)
    with make(fake) as client:
        landed = client.download(extract_file(), tmp_path)
    assert landed.path.read_bytes() == PAYLOAD


def test_cut_connection_is_retried_from_the_start(tmp_path: Path) -> None:
    length = {"Content-Length": str(len(PAYLOAD))}
    fake = redirecting_fake(
        httpx.Response(200, headers=length, stream=CutStream(PAYLOAD[:1000])),
        body(PAYLOAD, **length),
    )
    with make(fake) as client:
        landed = client.download(extract_file(), tmp_path)
    assert landed.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    assert len([r for r in fake.api_requests() if r.url.path == GET_FILE]) == 2


def test_short_body_is_detected_by_content_length(tmp_path: Path) -> None:
    fake = redirecting_fake(
        body(PAYLOAD[:10], **{"Content-Length": str(len(PAYLOAD))}),
        body(PAYLOAD),
    )
    with make(fake) as client:
        landed = client.download(extract_file(), tmp_path)
    assert landed.size == len(PAYLOAD)
    assert len([r for r in fake.api_requests() if r.url.path == GET_FILE]) == 2


def test_plain_file_sent_with_content_encoding_is_decoded(tmp_path: Path) -> None:
    plain = b'[{"ID": "1"}]'
    fake = redirecting_fake(body(gzip.compress(plain), **{"Content-Encoding": "gzip"}))
    with make(fake) as client:
        landed = client.download(extract_file("ADM_SUPPLIER_0001.json"), tmp_path)
    assert landed.path.read_bytes() == plain
    assert landed.sha256 == hashlib.sha256(plain).hexdigest()


def test_partial_file_is_removed_when_every_attempt_fails(tmp_path: Path) -> None:
    cut = [httpx.Response(200, stream=CutStream(PAYLOAD[:100])) for _ in range(2)]
    fake = redirecting_fake(*cut)
    with make(fake, download_attempts=2) as client, pytest.raises(BaswareDownloadError) as raised:
        client.download(extract_file(), tmp_path)
    assert list(tmp_path.iterdir()) == []
    message = str(raised.value)
    assert f"Basware GET {GET_FILE}" in message
    assert "failed after 2 attempt(s)" in message and "ReadError" in message
    assert "SIGNATURE" not in message


def test_existing_file_survives_a_failed_redownload(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"old")
    fake = redirecting_fake(httpx.Response(200, stream=CutStream(b"new")))
    with make(fake, download_attempts=1) as client, pytest.raises(BaswareDownloadError):
        client.download(extract_file(), tmp_path)
    assert (tmp_path / FILE_NAME).read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]


def test_403_means_the_download_limit_is_spent(tmp_path: Path) -> None:
    fake = FakeBasware()
    fake.route(GET_FILE, json_response(403, {"message": "Forbidden"}))
    with make(fake) as client, pytest.raises(BaswareDownloadLimitError) as raised:
        client.download(extract_file(), tmp_path)
    message = str(raised.value)
    assert f"Basware GET {GET_FILE} answered HTTP 403: Forbidden" in message
    assert "download limit" in message and "change request to Basware" in message
    assert list(tmp_path.iterdir()) == []
    assert len(fake.api_requests()) == 1  # never retried: each attempt spends a download


def test_other_errors_are_api_errors_without_retry_of_the_body(tmp_path: Path) -> None:
    fake = FakeBasware()
    fake.route(GET_FILE, json_response(404, {"detail": "Not Found"}))
    with make(fake) as client, pytest.raises(BaswareAPIError) as raised:
        client.download(extract_file(), tmp_path)
    assert not isinstance(raised.value, BaswareDownloadLimitError)
    assert raised.value.status == 404


@pytest.mark.parametrize("name", ["../escape.json", "a/b.json", "..", ""])
def test_file_names_that_leave_the_landing_directory_are_refused(tmp_path: Path, name: str) -> None:
    fake = FakeBasware()
    file = ExtractFile(
        extract_id=EXTRACT_ID,
        table_name="IA_INVOICE",
        file_name=name,
        start_date=None,
        end_date=None,
        download_url=f"{BASE_URL}{GET_FILE}",
        record_count=None,
    )
    with make(fake) as client, pytest.raises(BaswareResponseError):
        client.download(file, tmp_path / "landing")
    assert fake.api_requests() == []
