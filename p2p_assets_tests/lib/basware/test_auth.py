"""OAuth2 client credentials for Basware: one token, renewed in time, and errors without secrets."""

import base64
import logging
import threading
from urllib.parse import parse_qs

import httpx
import pytest

from p2p_assets.lib.basware import (
    BaswareAuthError,
    BaswareClient,
    BaswareConfigError,
    BaswareOAuth2,
    basware_auth,
)
from p2p_assets_tests.lib.basware.fakes import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeBasware,
    json_response,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer_only(fake: FakeBasware) -> None:
    """`/v1/dataExtracts` answers only requests carrying the newest token."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {fake.current_token()}":
            return json_response(401, {"message": "Unauthorized"})
        return json_response(200, [])

    fake.route("/v1/dataExtracts", handler)


def make(fake: FakeBasware, clock: Clock | None = None) -> tuple[BaswareClient, BaswareOAuth2]:
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET, clock=clock or Clock())
    client = BaswareClient(BASE_URL, auth, transport=fake.transport, sleep=lambda _: None)
    return client, auth


def test_token_is_fetched_once_and_reused() -> None:
    fake = FakeBasware()
    bearer_only(fake)
    client, _ = make(fake)
    with client:
        for _ in range(3):
            client.list_extracts()
    assert fake.token_requests == 1
    token_request = fake.requests[0]
    assert token_request.method == "POST"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(token_request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["dataExtract.read dataExtract.write"],
    }
    assert fake.api_authorizations() == ["Bearer token-1"] * 3


@pytest.mark.parametrize(
    ("expires_in", "still_cached_at", "renewed_at"),
    [
        (3600, 3539.0, 3541.0),  # skew is 60 s for an hour-long token
        (300, 269.0, 271.0),  # skew is 10 % (30 s) of a five-minute token
        ("7200", 7139.0, 7141.0),  # expires_in as a string
    ],
)
def test_token_is_renewed_before_it_expires(
    expires_in: int | str, still_cached_at: float, renewed_at: float
) -> None:
    fake = FakeBasware(expires_in=expires_in)
    bearer_only(fake)
    clock = Clock()
    client, _ = make(fake, clock)
    start = clock.now
    with client:
        client.list_extracts()
        clock.now = start + still_cached_at
        client.list_extracts()
        assert fake.token_requests == 1
        clock.now = start + renewed_at
        client.list_extracts()
        assert fake.token_requests == 2
    # renewed proactively: the API never saw an expired token
    assert fake.api_authorizations() == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_401_renews_the_token_once_and_resends_once() -> None:
    fake = FakeBasware()
    bearer_only(fake)
    client, _ = make(fake)
    with client:
        client.list_extracts()
        fake.token_requests += 10  # the server revokes token-1 (its newest is now token-11)
        client.list_extracts()
    assert fake.api_authorizations() == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-12",
    ]


def test_second_401_raises_auth_error() -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", json_response(401, {"message": "Unauthorized"}))
    client, _ = make(fake)
    with client, pytest.raises(BaswareAuthError) as raised:
        client.list_extracts()
    assert fake.token_requests == 2
    assert len(fake.api_requests()) == 2
    message = str(raised.value)
    assert "Basware GET /v1/dataExtracts answered HTTP 401: Unauthorized" in message
    assert CLIENT_SECRET not in message


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"error": "invalid_request", "error_description": "scope is required"},
            "HTTP 400: invalid_request: scope is required",
        ),
        (401, {"error": "invalid_client"}, "HTTP 401: invalid_client"),
        (
            400,
            {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"},
            "invalid_client: bad secret ***",
        ),
    ],
)
def test_token_endpoint_error_names_vendor_error_but_not_the_secret(
    status: int, body: dict[str, str], expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeBasware()
    fake.token_error = json_response(status, body)
    bearer_only(fake)
    client, _ = make(fake)
    with caplog.at_level(logging.DEBUG), client, pytest.raises(BaswareAuthError) as raised:
        client.list_extracts()
    message = str(raised.value)
    assert message.startswith("Basware POST /v1/tokens answered")
    assert expected in message
    assert CLIENT_SECRET not in message
    assert CLIENT_SECRET not in caplog.text
    assert fake.api_requests() == []


def test_token_answer_without_access_token_is_an_auth_error() -> None:
    fake = FakeBasware()
    fake.token_error = json_response(200, {"token_type": "Bearer"})
    client, _ = make(fake)
    with client, pytest.raises(BaswareAuthError, match="no access_token"):
        client.list_extracts()


def test_concurrent_requests_share_one_token() -> None:
    fake = FakeBasware()
    fake.token_delay = 0.05
    bearer_only(fake)
    client, _ = make(fake)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.list_extracts()
        except BaseException as exc:  # collected and re-checked in the main thread
            errors.append(exc)

    with client:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert fake.token_requests == 1


def test_repr_does_not_show_the_secret() -> None:
    auth = BaswareOAuth2(f"{BASE_URL}/v1/tokens", CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(auth)


def test_factory_chooses_oauth2_or_basic() -> None:
    oauth = basware_auth(BASE_URL + "/", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert isinstance(oauth, BaswareOAuth2)
    assert oauth.token_url == f"{BASE_URL}/v1/tokens"
    assert oauth.scope == "dataExtract.read dataExtract.write"
    basic = basware_auth(BASE_URL, username="user", password="pw")
    assert isinstance(basic, httpx.BasicAuth)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"client_id": CLIENT_ID},
        {"client_secret": CLIENT_SECRET},
        {"username": "user"},
        {"password": "pw"},
    ],
)
def test_factory_refuses_incomplete_credentials(kwargs: dict[str, str]) -> None:
    with pytest.raises(BaswareConfigError) as raised:
        basware_auth(BASE_URL, **kwargs)
    assert CLIENT_SECRET not in str(raised.value)


def test_basic_auth_is_sent_on_every_request() -> None:
    fake = FakeBasware()
    fake.route("/v1/dataExtracts", [])
    auth = basware_auth(BASE_URL, username="user", password="pw")
    with BaswareClient(BASE_URL, auth, transport=fake.transport) as client:
        client.list_extracts()
    assert fake.token_requests == 0
    assert fake.requests[0].headers["Authorization"].startswith("Basic ")
