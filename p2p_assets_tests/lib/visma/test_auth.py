"""Visma tokens: cached across objects and processes (a monthly quota), refreshed on refusal."""

import multiprocessing
import os
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.visma import VismaAuthError, VismaClient, VismaQuotaError, VismaTokenAuth
from p2p_assets.lib.visma.plans import PLANS
from p2p_assets.lib.visma.usage import UsageLedger
from p2p_assets_tests.clocks import MovableClock
from p2p_assets_tests.lib.visma.fakes import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    TOKEN_URL,
    FakeVisma,
    json_response,
    make_auth,
    make_client,
)


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="ok")


def test_token_request_is_the_documented_form() -> None:
    fake = FakeVisma(expires_in="7200")  # a string, as the API sends it
    fake.route("GET", "/heartbeat", ok)
    with make_client(fake) as client:
        assert client.heartbeat()
        assert client.heartbeat()
    assert fake.token_requests == 1
    token_request = fake.requests[0]
    form = parse_qs(token_request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "tenant_id": [TENANT],
    }
    assert token_request.headers["Cache-Control"] == "no-cache"  # as Visma's own scripts send it
    assert fake.api_auth == ["Bearer tok-1", "Bearer tok-1"]


def test_legacy_token_has_no_cache_header_and_api_carries_tenant() -> None:
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", ok)
    auth = VismaTokenAuth(CLIENT_ID, CLIENT_SECRET, TENANT, legacy=True, token_url=TOKEN_URL)
    with VismaClient(BASE_URL, auth, tenant_id=TENANT, transport=fake.transport,
                     sleep=lambda _: None) as client:  # fmt: skip
        client.heartbeat()
    token_request = fake.requests[0]
    assert token_request.headers["Cache-Control"] == "no-cache"
    assert "tenant_id" not in parse_qs(token_request.content.decode())
    assert fake.api_requests()[0].headers["x-raet-tenant-id"] == TENANT


def test_token_cached_across_auth_objects_in_an_owner_only_file(tmp_path: Path) -> None:
    cache = tmp_path / "visma" / "token.json"
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", ok)
    for _ in range(2):
        with make_client(fake, make_auth(cache)) as client:
            client.heartbeat()
    assert fake.token_requests == 1
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert CLIENT_SECRET not in cache.read_text()
    assert [p.name for p in cache.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_cache_is_keyed_by_credentials(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", ok)
    with make_client(fake, make_auth(cache)) as client:
        client.heartbeat()
    other = VismaTokenAuth("another-client", CLIENT_SECRET, TENANT, token_url=TOKEN_URL,
                           cache_path=cache)  # fmt: skip
    with make_client(fake, other) as client:
        client.heartbeat()
    assert fake.token_requests == 2


def test_token_renewed_shortly_before_expiry(tmp_path: Path) -> None:
    now = [1000.0]
    fake = FakeVisma(expires_in=7200)
    fake.route("GET", "/heartbeat", ok)
    auth = make_auth(tmp_path / "token.json", clock=lambda: now[0])
    with make_client(fake, auth) as client:
        client.heartbeat()
        now[0] += 7200 - 400
        client.heartbeat()
        assert fake.token_requests == 1
        now[0] += 200  # within five minutes of expiry
        client.heartbeat()
    assert fake.token_requests == 2


def test_refresh_once_on_401(tmp_path: Path) -> None:
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", ok)
    cache = tmp_path / "token.json"
    with make_client(fake, make_auth(cache)) as client:
        client.heartbeat()
    fake.token_requests += 5  # the server revokes tok-1; only tok-7 is accepted now
    with make_client(fake, make_auth(cache)) as client:
        client.heartbeat()
    assert fake.api_auth == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-7"]


def test_refresh_on_403_with_the_authentication_body_only() -> None:
    fake = FakeVisma()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"])
        if len(calls) == 1:
            return json_response(403, {"message": "Authentication Error",
                                       "errorCode": "unauthorized"})  # fmt: skip
        return json_response(403, {"message": "Not subscribed to business type 7101"})

    fake.route("GET", "/businesstypes/7101", handler)
    with make_client(fake) as client, pytest.raises(Exception) as caught:
        client.business_type(7101)
    assert calls == ["Bearer tok-1", "Bearer tok-2"]
    assert "HTTP 403" in str(caught.value) and "7101" in str(caught.value)


def test_second_refusal_raises_without_secret_or_token() -> None:
    fake = FakeVisma()
    fake.route(
        "GET", "/heartbeat", lambda _: json_response(401, {"message": "Authentication Error"})
    )
    with make_client(fake) as client, pytest.raises(VismaAuthError) as caught:
        client.heartbeat()
    text = str(caught.value)
    assert "Visma" in text and "/heartbeat" in text and "401" in text
    assert CLIENT_SECRET not in text and "tok-" not in text
    assert fake.token_requests == 2


def test_token_endpoint_refusal_never_shows_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A badly behaved server echoing the form back.
        return json_response(400, {"error": "invalid_client", "error_description":
                                   request.content.decode()})  # fmt: skip

    transport = httpx.MockTransport(handler)
    client = VismaClient(BASE_URL, make_auth(), transport=transport, sleep=lambda _: None)
    with client, pytest.raises(VismaAuthError) as caught:
        client.heartbeat()
    text = str(caught.value)
    assert "invalid_client" in text and "HTTP 400" in text
    assert CLIENT_SECRET not in text
    assert CLIENT_SECRET not in repr(make_auth())


def _process_main(cache: str, counter: str, barrier: object) -> None:
    # Another process's token is as good as ours: the fake accepts any issued token.
    fake = FakeVisma(token_delay=0.3, check_token=False)
    fake.route("GET", "/heartbeat", ok)
    barrier.wait()  # type: ignore[attr-defined]
    with make_client(fake, make_auth(Path(cache))) as client:
        client.heartbeat()
    with open(counter, "a") as handle:
        handle.write(f"{fake.token_requests}\n")


def test_concurrent_processes_make_one_token_call(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    counter = tmp_path / "counts"
    cache = tmp_path / "visma" / "token.json"
    procs = [
        ctx.Process(target=_process_main, args=(str(cache), str(counter), barrier))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(20)
        assert proc.exitcode == 0
    counts = [int(line) for line in counter.read_text().split()]
    assert len(counts) == 4 and sum(counts) == 1
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


def test_the_plans_monthly_quota_is_counted_and_never_exceeded(tmp_path: Path) -> None:
    # Every token call is counted per month in the usage ledger; the next one that would exceed
    # the plan's quota is refused here instead of being spent at Visma.
    clock = MovableClock(1_790_000_000.0)  # 2026-09-21
    fake = FakeVisma(expires_in=60)
    fake.route("GET", "/heartbeat", ok)
    cache = tmp_path / "token.json"
    plan = replace(PLANS["continuous"], auth_calls_per_month=2)

    def client() -> VismaClient:
        ledger = UsageLedger(tmp_path / "usage.json", plan, None)
        auth = VismaTokenAuth(CLIENT_ID, CLIENT_SECRET, TENANT, token_url=TOKEN_URL,
                              cache_path=cache, usage=ledger)  # fmt: skip
        return make_client(fake, auth)

    with clocks.using(clock):
        for _ in range(2):
            with client() as visma:
                visma.heartbeat()
            clock.now += 3600  # the token has expired
        with client() as visma, pytest.raises(VismaQuotaError, match="2 of the 2 authentication"):
            visma.heartbeat()
        assert fake.token_requests == 2
        clock.now += 31 * 86400  # next month: a fresh quota
        with client() as visma:
            visma.heartbeat()
    assert fake.token_requests == 3
