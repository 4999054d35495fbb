"""Both token flows, the 401 body, monthly quotas, tenants and the spike arrest."""

from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets_tests.sandbox.visma.conftest import (
    CONNECT_FORM,
    IN_WINDOW,
    LEGACY_FORM,
    connect_token,
)


def test_connect_token_binds_the_tenant(root: httpx.Client, base_url: str):
    response = root.post("/connect/token", data=CONNECT_FORM)
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "BearerToken"
    assert body["expires_in"] == "7200" and isinstance(body["expires_in"], str)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    listed = httpx.get(f"{base_url}/v1.0/files", params={"role": "subscriber"}, headers=headers)
    assert listed.status_code == 200
    other = httpx.get(
        f"{base_url}/v1.0/files", headers={**headers, "x-raet-tenant-id": "someone-else"}
    )
    assert other.status_code == 403


@pytest.mark.parametrize("cache_control", [{"Cache-Control": "no-cache"}, {}])
def test_legacy_token_with_or_without_cache_control(root: httpx.Client, cache_control: dict):
    # Visma's scripts send Cache-Control: no-cache on the token request; it is not required.
    response = root.post("/authentication/token", data=LEGACY_FORM, headers=cache_control)
    assert response.status_code == 200
    assert response.json()["expires_in"] == "7200"


def test_single_tenant_app_needs_no_tenant_header(root: httpx.Client, base_url: str):
    token = root.post("/authentication/token", data=LEGACY_FORM).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base_url}/mft/v1.0/files?role=subscriber"
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.get(url, headers={**headers, "x-raet-tenant-id": "sandbox"}).status_code == 200
    assert httpx.get(url, headers={**headers, "x-raet-tenant-id": "other"}).status_code == 403


def test_multi_tenant_app_needs_the_tenant_header(tmp_path: Path):
    config = VismaSandboxConfig(single_tenant=False, spike_interval_seconds=0, files_per_type={})
    with VismaSandbox(config, tmp_path).serve() as url, httpx.Client(base_url=url) as client:
        token = client.post("/authentication/token", data=LEGACY_FORM).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        refused = client.get("/mft/v1.0/files?role=subscriber", headers=headers)
        assert refused.status_code == 401 and refused.json()["errorCode"] == "unauthorized"
        tenant = {**headers, "x-raet-tenant-id": "sandbox"}
        assert client.get("/mft/v1.0/files?role=subscriber", headers=tenant).status_code == 200
        # A Visma Connect token carries its tenant: no header needed either way.
        connect = {"Authorization": f"Bearer {connect_token(client)}"}
        assert client.get("/v1.0/files?role=subscriber", headers=connect).status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_unauthorized_body(base_url: str, header: str | None):
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{base_url}/v1.0/files", headers=headers)
    body = response.json()
    assert response.status_code == 401
    assert set(body) == {"message", "correlationId", "issuedAt", "errorCode", "statusCode"}
    assert (body["message"], body["errorCode"], body["statusCode"]) == (
        "Authentication Error",
        "unauthorized",
        401,
    )


def test_bad_credentials_are_refused(root: httpx.Client):
    bad = {**CONNECT_FORM, "client_secret": "wrong"}
    assert root.post("/connect/token", data=bad).json() == {"error": "invalid_client"}
    wrong_tenant = {**CONNECT_FORM, "tenant_id": "other"}
    assert root.post("/connect/token", data=wrong_tenant).status_code == 400
    assert root.post("/authentication/token", data=bad).status_code == 401


def test_weekly_plan_allows_seven_tokens_a_month(tmp_path: Path):
    sandbox = VismaSandbox(VismaSandboxConfig(plan="weekly", files_per_type={}), tmp_path)
    sandbox.set_now(IN_WINDOW)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        responses = [client.post("/connect/token", data=CONNECT_FORM) for _ in range(8)]
        state = client.get("/_sandbox/state").json()
        sandbox.set_now(IN_WINDOW.replace(month=4))  # the month on the sandbox clock: a new quota
        april = client.post("/connect/token", data=CONNECT_FORM)
    assert [r.status_code for r in responses] == [200] * 7 + [429]
    assert responses[-1].json()["fault"] == {
        "faultstring": "Rate limit quota violation. Quota limit exceeded: "
        "7 authentication calls per month",
        "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
    }
    assert april.status_code == 200
    counters = sandbox.counters()
    assert (counters["auth_calls"], counters["tokens_issued"], counters["throttled"]) == (9, 8, 1)
    assert (counters["tokens:2025-03"], counters["tokens:2025-04"]) == (7, 1)
    assert state["counters"]["auth_quota_exceeded"] == 1


def test_token_lifetime_fault(sandbox: VismaSandbox, root: httpx.Client, base_url: str):
    sandbox.set_faults(token_lifetime_seconds=1)
    response = root.post("/connect/token", data=CONNECT_FORM)
    assert response.json()["expires_in"] == "1"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    sandbox.advance(1.1)
    assert httpx.get(f"{base_url}/v1.0/files", headers=headers).status_code == 401


def test_spike_arrest_answers_429_without_retry_after(tmp_path: Path):
    config = VismaSandboxConfig(spike_interval_seconds=0.6, files_per_type={7101: 1})
    sandbox = VismaSandbox(config, tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        headers = {"Authorization": f"Bearer {connect_token(client)}"}
        first = client.get("/v1.0/files", headers=headers)
        second = client.get("/v1.0/files", headers=headers)
        sandbox.advance(0.65)  # the arrest runs on the sandbox clock: no sleeping
        third = client.get("/v1.0/files", headers=headers)
        sandbox.advance(-3600)  # a clock moved back is no spike
        fourth = client.get("/v1.0/files", headers=headers)
    assert [r.status_code for r in (first, second, third, fourth)] == [200, 429, 200, 200]
    assert "Retry-After" not in second.headers
    assert second.json()["fault"] == {
        "faultstring": "Spike arrest violation. Allowed rate : 100pm",
        "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
    }
    counters = sandbox.counters()
    assert (counters["api_calls"], counters["throttled"], counters["throttled_spike"]) == (4, 1, 1)
