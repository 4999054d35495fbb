"""Landing an extract: names from the API are data, ZIP members are files of their own, and the
downloads an extract allows are counted, the last one never spent without a person."""

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.basware import BaswareClient, BaswareOAuth2, BaswareResponseError, Extract
from p2p_assets.lib.basware.landing import (
    BaswareDownloadBudgetError,
    allow_last_download,
    land_extract,
    read_landed,
)
from p2p_assets_tests.lib.basware.fakes import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeBasware,
    json_response,
)

EXTRACT_ID = "0123456789abcdef0123456789abcdef"
DEFINITION = [
    {"Table name": t, "Columns": [{"Column name": "ID", "Data Type": "NVARCHAR2(64)"}]}
    for t in ("IA_INVOICE", "IA_INVOICE_ROW")
]


def body(content: bytes) -> httpx.Response:
    """An answer whose body is still a stream, as one from the network is."""
    return httpx.Response(200, stream=httpx.ByteStream(content))


def extract(extract_id: str = EXTRACT_ID) -> Extract:
    return Extract.from_api({"id": extract_id, "type": "Delta", "processingStatus": "Waiting"})


def fake_with_files(files: dict[str, bytes], extract_id: str = EXTRACT_ID) -> FakeBasware:
    fake = FakeBasware()
    fake.route(
        f"/v1/dataExtracts/{extract_id}",
        [
            {
                "extractId": extract_id,
                "tableName": name.split(".")[0].rsplit("_", 1)[0],
                "fileName": name,
                "downloadUrl": f"{BASE_URL}/v1/dataExtracts/{extract_id}/getFile?file={name}",
            }
            for name in files
        ],
    )
    fake.route("/v1/dataExtracts/specification/tableDefinition", DEFINITION)
    fake.route(
        f"/v1/dataExtracts/{extract_id}/getFile",
        lambda request: body(files[request.url.params["file"]]),
    )
    return fake


def client(fake: FakeBasware) -> BaswareClient:
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET)
    return BaswareClient(BASE_URL, auth, transport=fake.transport, sleep=lambda _: None)


def everything_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("extract_id", ["../../x", "/tmp/abs", "a.b", "..", "", "x" * 300])
def test_an_extract_id_that_is_not_a_plain_name_is_refused(tmp_path: Path, extract_id) -> None:
    with pytest.raises(BaswareResponseError, match="is refused|without id"):
        Extract.from_api({"id": extract_id, "type": "Delta"})


def test_a_listing_keeps_the_good_extracts_and_names_the_refused_one(tmp_path: Path) -> None:
    fake = FakeBasware()
    fake.route(
        "/v1/dataExtracts",
        [{"id": EXTRACT_ID, "type": "Initial"}, {"id": "../../x", "type": "Delta"}],
    )
    with client(fake) as basware:
        listing = basware.extract_listing()
    assert [e.id for e in listing.extracts] == [EXTRACT_ID]
    assert len(listing.refused) == 1 and "'../../x'" in listing.refused[0]


@pytest.mark.parametrize(
    "file_name",
    ["../IA_INVOICE_0001.json.gz", "IA_INVOICE_*.json.gz", "manifest.json", ".hidden.json.gz",
     "a/b.json", "IA_INVOICE_0001.json.gz.partial", "members", "IA INVOICE.json"],
)  # fmt: skip
def test_a_file_name_that_is_not_a_plain_name_refuses_the_extract_before_anything_is_written(
    tmp_path: Path, file_name: str
) -> None:
    landing = tmp_path / "landing"
    fake = fake_with_files({"IA_INVOICE_0001.json.gz": b"[]", file_name: b"[]"})
    with client(fake) as basware, pytest.raises(BaswareResponseError) as refused:
        land_extract(basware, extract(), landing)
    assert EXTRACT_ID in str(refused.value) and repr(file_name) in str(refused.value)
    assert not landing.exists() or everything_under(landing) == set()
    assert everything_under(tmp_path) <= {landing}
    assert not any("getFile" in str(r.url) for r in fake.requests)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_every_zip_member_is_a_file_of_its_own_by_its_own_name(tmp_path: Path) -> None:
    archive = zipped(
        {
            "part1/IA_INVOICE_0001.json": b'[{"ID": "1"}]',
            "part2/IA_INVOICE_0001.json": b'[{"ID": "2"}]',
            "part2/IA_INVOICE_ROW_0001.json": b'[{"ID": "3"}]',
            "../../escape.json": b'[{"ID": "4"}]',
        }
    )
    with client(fake_with_files({"INVOICE_DATASET_0001.zip": archive})) as basware:
        landed = land_extract(basware, extract(), tmp_path / "landing")
    found = {(s.file_name, s.table_name, s.path.read_bytes()) for s in landed.source_files()}
    assert found == {
        ("INVOICE_DATASET_0001.zip/part1/IA_INVOICE_0001.json", "IA_INVOICE", b'[{"ID": "1"}]'),
        ("INVOICE_DATASET_0001.zip/part2/IA_INVOICE_0001.json", "IA_INVOICE", b'[{"ID": "2"}]'),
        (
            "INVOICE_DATASET_0001.zip/part2/IA_INVOICE_ROW_0001.json",
            "IA_INVOICE_ROW",
            b'[{"ID": "3"}]',
        ),
        # A member's own path is data: it names the file, it never decides where it goes.
        ("INVOICE_DATASET_0001.zip/../../escape.json", "INVOICE_DATASET", b'[{"ID": "4"}]'),
    }
    for source in landed.source_files():
        assert source.path.is_relative_to(tmp_path / "landing" / EXTRACT_ID / "members")


def test_a_broken_zip_is_recorded_for_the_loader_to_report_as_corrupt(tmp_path: Path) -> None:
    with client(fake_with_files({"IA_INVOICE_0001.json.zip": b"PK\x03\x04garbage"})) as basware:
        landed = land_extract(basware, extract(), tmp_path / "landing")
    (source,) = landed.source_files()
    assert source.error and "corrupt ZIP archive" in source.error


def test_downloads_are_counted_and_the_last_is_kept_for_a_person(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    fake = fake_with_files({"IA_INVOICE_0001.json.gz": b"[]"})
    directory = landing / EXTRACT_ID

    def land_again() -> None:
        (directory / "IA_INVOICE_0001.json.gz").unlink()  # as a rejected copy is moved aside
        with client(fake) as basware:
            land_extract(basware, extract(), landing, download_limit=3)

    with client(fake) as basware:
        land_extract(basware, extract(), landing, download_limit=3)
    land_again()
    assert read_landed(directory).downloads == {"IA_INVOICE_0001.json.gz": 2}
    with pytest.raises(BaswareDownloadBudgetError) as kept:
        land_again()
    assert "2 of its 3 downloads" in str(kept.value)
    assert f"p2p-assets basware redownload {EXTRACT_ID} IA_INVOICE_0001.json.gz" in str(kept.value)
    downloads = sum("getFile" in str(r.url) for r in fake.requests)
    assert downloads == 2  # the refused attempt never left

    assert allow_last_download(directory, ["IA_INVOICE_0001.json.gz"]) == [
        "IA_INVOICE_0001.json.gz"
    ]
    with client(fake) as basware:
        land_extract(basware, extract(), landing, download_limit=3)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["downloads"] == {"IA_INVOICE_0001.json.gz": 3}
    assert manifest["allow_last"] == []  # one permission, one download
    with pytest.raises(BaswareDownloadBudgetError, match="none is left"):
        land_again()


def test_a_storage_host_that_refuses_a_second_credential_gets_the_request_without_it(
    tmp_path: Path,
) -> None:
    storage = "https://storage.example.test/blob?X-Amz-Signature=abc"
    fake = FakeBasware()
    name = "IA_INVOICE_0001.json.gz"
    fake.route(
        f"/v1/dataExtracts/{EXTRACT_ID}/getFile",
        httpx.Response(302, headers={"Location": storage}),
    )

    def blob(request: httpx.Request) -> httpx.Response:
        if "Authorization" in request.headers:
            return httpx.Response(400, content=b"<Error><Code>InvalidArgument</Code></Error>")
        return body(b"[]")

    fake.route("/blob", blob)
    item = {
        "extractId": EXTRACT_ID,
        "tableName": "IA_INVOICE",
        "fileName": name,
        "downloadUrl": f"{BASE_URL}/v1/dataExtracts/{EXTRACT_ID}/getFile?file={name}",
    }
    fake.route(f"/v1/dataExtracts/{EXTRACT_ID}", [item])
    fake.route("/v1/dataExtracts/specification/tableDefinition", DEFINITION)
    with client(fake) as basware:
        landed = land_extract(basware, extract(), tmp_path / "landing")
    assert landed.downloaded == [name]
    hops = [(r.url.host, r.headers.get("Authorization"), r.headers.get("Date"))
            for r in fake.requests if "getFile" in str(r.url) or r.url.path == "/blob"]  # fmt: skip
    assert [(host, auth is not None) for host, auth, _ in hops] == [
        ("api.basware.test", True),
        ("storage.example.test", True),  # the manual: every header on the redirected request
        ("storage.example.test", False),  # refused with 400: once more without it
    ]
    assert all(date and date.endswith(" GMT") for _, _, date in hops)


def test_the_same_storage_refusal_on_the_api_host_is_an_error(tmp_path: Path) -> None:
    fake = fake_with_files({})
    fake.route(
        f"/v1/dataExtracts/{EXTRACT_ID}",
        json_response(403, {"message": "Forbidden"}),
    )
    with client(fake) as basware, pytest.raises(Exception, match="403"):
        land_extract(basware, extract(), tmp_path / "landing")


def test_files_of_another_source_are_never_added_to_a_landed_extract(tmp_path: Path) -> None:
    from p2p_assets.lib.basware import BaswareError

    landing = tmp_path / "landing"
    fake = fake_with_files({"IA_INVOICE_0001.json.gz": b"[]"})
    sandbox = {"vendor": "basware", "sandbox": True, "endpoint": "sandbox"}
    live = {"vendor": "basware", "sandbox": False, "endpoint": "https://api.basware.com"}
    with client(fake) as basware:
        land_extract(basware, extract(), landing, source=sandbox)
        with pytest.raises(BaswareError, match="from the Basware sandbox; refusing to add files"):
            land_extract(basware, extract(), landing, source=live)
        land_extract(basware, extract(), landing, source=sandbox)  # the same source goes on
    assert read_landed(landing / EXTRACT_ID).source == sandbox
