"""The Basware client against a scripted API: endpoints, redirects, errors and acknowledgement."""

import httpx
import pytest

from p2p_assets.lib.basware import (
    BaswareAPIError,
    BaswareClient,
    BaswareConnectionError,
    BaswareError,
    BaswareOAuth2,
)
from p2p_assets.lib.http import RetryPolicy
from p2p_assets_tests.lib.basware.fakes import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeBasware,
    json_response,
)

EXTRACT_ID = "0123456789abcdef0123456789abcdef"


def make(fake: FakeBasware, max_redirects: int = 5) -> BaswareClient:
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET)
    return BaswareClient(
        BASE_URL, auth, transport=fake.transport, sleep=lambda _: None, max_redirects=max_redirects
    )


def test_list_extracts_with_and_without_status_filter() -> None:
    fake = FakeBasware()
    fake.route(
        "/v1/dataExtracts",
        lambda request: json_response(
            200,
            [
                {
                    "id": EXTRACT_ID,
                    "type": "Initial",
                    "processingStatus": request.url.params.get("processingStatus", "Exported"),
                }
            ],
        ),
    )
    with make(fake) as client:
        waiting = client.list_extracts("WaitingForExport")
        everything = client.list_extracts()
    assert waiting[0].processing_status == "WaitingForExport"
    assert everything[0].processing_status == "Exported"
    urls = [url for _, url, _ in fake.seen if "tokens" not in url]
    assert urls == [
        f"{BASE_URL}/v1/dataExtracts?processingStatus=WaitingForExport",
        f"{BASE_URL}/v1/dataExtracts",
    ]
    assert fake.api_requests()[0].headers["Accept"] == "application/json"


def test_list_files() -> None:
    fake = FakeBasware()
    fake.route(
        f"/v1/dataExtracts/{EXTRACT_ID}",
        [
            {
                "extractId": EXTRACT_ID,
                "tableName": "IA_INVOICE",
                "fileName": "IA_INVOICE_0001.json.gz",
                "downloadUrl": f"{BASE_URL}/v1/dataExtracts/{EXTRACT_ID}/getFile?file=F",
            }
        ],
    )
    with make(fake) as client:
        files = client.list_files(EXTRACT_ID)
    assert [(f.table_name, f.file_name, f.record_count) for f in files] == [
        ("IA_INVOICE", "IA_INVOICE_0001.json.gz", None)
    ]


def test_table_definition_and_changelog() -> None:
    fake = FakeBasware()
    fake.route(
        "/v1/dataExtracts/specification/tableDefinition",
        [
            {
                "Table name": "ADM_SUPPLIER",
                "Columns": [{"Column name": "ID", "Data Type": "NVARCHAR2"}],
            }
        ],
    )
    changelog = [{"Version": "2", "Added tables": ["PE_PROCESS_TASK"], "Removed tables": []}]
    fake.route("/v1/dataExtracts/specification/tableDefinition/changeLog", changelog)
    with make(fake) as client:
        definitions = client.table_definition()
        changes = client.table_definition_changelog()
    assert definitions[0].table_name == "ADM_SUPPLIER"
    assert definitions[0].columns[0].data_type == "NVARCHAR2"
    assert changes == changelog


def test_redirects_keep_authorization_across_origins() -> None:
    fake = FakeBasware()
    fake.route(
        "/v1/dataExtracts",
        httpx.Response(302, headers={"Location": "https://elsewhere.test/hop1"}),
    )
    fake.route("/hop1", httpx.Response(307, headers={"Location": "/v1/final?x=1"}))
    fake.route("/v1/final", lambda request: json_response(200, [{"id": "e1"}]))
    with make(fake) as client:
        extracts = client.list_extracts()
    assert [e.id for e in extracts] == ["e1"]
    hops = [(url, auth) for _, url, auth in fake.seen if "tokens" not in url]
    assert hops == [
        (f"{BASE_URL}/v1/dataExtracts", "Bearer token-1"),
        ("https://elsewhere.test/hop1", "Bearer token-1"),
        ("https://elsewhere.test/v1/final?x=1", "Bearer token-1"),
    ]
    final = fake.api_requests()[-1]
    assert final.headers["Host"] == "elsewhere.test"
    assert final.headers["Accept"] == "application/json"


def test_redirect_loop_is_bounded() -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", httpx.Response(302, headers={"Location": "/v1/dataExtracts"}))
    with make(fake, max_redirects=3) as client, pytest.raises(BaswareError, match="more than 3"):
        client.list_extracts()
    assert len(fake.api_requests()) == 4


def test_redirect_from_https_to_http_is_refused() -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", httpx.Response(301, headers={"Location": "http://plain.test/x"}))
    with make(fake) as client, pytest.raises(BaswareError, match="refusing a redirect"):
        client.list_extracts()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"detail": "Not Found"}, "Basware GET /v1/dataExtracts answered HTTP 404: Not Found"),
        (
            422,
            {"detail": [{"loc": ["query", "processingStatus"], "msg": "invalid", "type": "enum"}]},
            "answered HTTP 422: query.processingStatus: invalid",
        ),
        (
            500,
            {"message": "Internal server error"},
            "answered HTTP 500: Internal server error (gave up after 5 attempts)",
        ),
        (403, {"message": "Forbidden"}, "HTTP 403: Forbidden. Check the API user's access rights"),
    ],
)
def test_error_answers_name_vendor_endpoint_status_and_detail(
    status: int, body: object, expected: str
) -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", json_response(status, body))
    with make(fake) as client, pytest.raises(BaswareAPIError) as raised:
        client.list_extracts()
    assert raised.value.status == status
    assert expected in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value)
    assert "token-1" not in str(raised.value)


def test_throttling_is_retried_through_the_client() -> None:
    fake = FakeBasware()
    answers = [json_response(429, {"message": "slow down"}, **{"Retry-After": "2"})]
    waits: list[float] = []
    fake.route(
        "/v1/dataExtracts",
        lambda request: answers.pop() if answers else json_response(200, []),
    )
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET)
    with BaswareClient(BASE_URL, auth, transport=fake.transport, sleep=waits.append) as client:
        assert client.list_extracts() == []
    assert len(waits) == 1 and waits[0] >= 2.0


def test_no_answer_is_a_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    auth = httpx.BasicAuth("user", "pw")
    policy = RetryPolicy(max_attempts=2)
    transport = httpx.MockTransport(refuse)
    with BaswareClient(
        BASE_URL, auth, transport=transport, retry=policy, sleep=lambda _: None
    ) as client:
        with pytest.raises(BaswareConnectionError) as raised:
            client.list_extracts()
    message = str(raised.value)
    assert "Basware GET /v1/dataExtracts" in message
    assert "ConnectError" in message and "gave up after 2 attempt(s)" in message


def test_non_json_answer_is_a_response_error() -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", httpx.Response(200, content=b"<html>maintenance</html>"))
    with make(fake) as client, pytest.raises(BaswareError, match="not JSON"):
        client.list_extracts()


ACK_BODY = {"succeeded": True, "message": "Action done successfully"}


def test_acknowledge_uses_the_documented_path() -> None:
    fake = FakeBasware()
    fake.route(f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge", json_response(200, ACK_BODY))
    with make(fake) as client:
        client.acknowledge(EXTRACT_ID)
    assert [(r.method, r.url.path) for r in fake.api_requests()] == [
        ("POST", f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge")
    ]


@pytest.mark.parametrize("status", [404, 405])
def test_acknowledge_falls_back_to_the_singular_path(status: int) -> None:
    fake = FakeBasware()
    fake.route(f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge", json_response(status, {"detail": "x"}))
    fake.route(f"/v1/dataExtract/{EXTRACT_ID}/acknowledge", json_response(200, ACK_BODY))
    with make(fake) as client:
        client.acknowledge(EXTRACT_ID)
    assert [r.url.path for r in fake.api_requests()] == [
        f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge",
        f"/v1/dataExtract/{EXTRACT_ID}/acknowledge",
    ]


def test_acknowledge_unknown_extract_raises_on_the_fallback_path() -> None:
    fake = FakeBasware()
    with make(fake) as client, pytest.raises(BaswareAPIError) as raised:
        client.acknowledge(EXTRACT_ID)
    assert raised.value.status == 404
    assert raised.value.endpoint == f"/v1/dataExtract/{EXTRACT_ID}/acknowledge"


def test_acknowledge_not_succeeded_raises() -> None:
    fake = FakeBasware()
    fake.route(
        f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge",
        json_response(200, {"succeeded": False, "message": "Extract is locked"}),
    )
    with make(fake) as client, pytest.raises(BaswareAPIError, match="Extract is locked"):
        client.acknowledge(EXTRACT_ID)


def test_acknowledge_is_retried_after_a_5xx() -> None:
    fake = FakeBasware()
    answers = [json_response(502, {"message": "Bad gateway"})]
    fake.route(
        f"/v1/dataExtracts/{EXTRACT_ID}/acknowledge",
        lambda request: answers.pop() if answers else json_response(200, ACK_BODY),
    )
    with make(fake) as client:
        client.acknowledge(EXTRACT_ID)
    assert len(fake.api_requests()) == 2
