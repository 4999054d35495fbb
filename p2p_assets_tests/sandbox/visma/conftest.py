"""A small Visma File API sandbox served over real loopback HTTP, and plain httpx clients."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig

# Spike arrest off (interval 0) except where a test exercises it, so the suite stays fast.
FAST = VismaSandboxConfig(seed=5, spike_interval_seconds=0)
CONNECT_FORM = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "tenant_id": "sandbox",
}
LEGACY_FORM = {k: v for k, v in CONNECT_FORM.items() if k != "tenant_id"}
# A Monday inside the default call window (06:00-08:00 UTC) of the weekly and daily plans.
IN_WINDOW = datetime(2025, 3, 3, 6, 30, tzinfo=UTC)
CHEAP = {"role": "subscriber", "pageSize": 1}
"""The cheapest API call: one page of one file."""


def connect_token(client: httpx.Client) -> str:
    response = client.post("/connect/token", data=CONNECT_FORM)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(client: httpx.Client) -> dict[str, str]:
    """Authorization headers with a fresh Visma Connect token."""
    return {"Authorization": f"Bearer {connect_token(client)}"}


@pytest.fixture
def sandbox(tmp_path: Path) -> VismaSandbox:
    return VismaSandbox(FAST, tmp_path / "state")


@pytest.fixture
def base_url(sandbox: VismaSandbox) -> Iterator[str]:
    with sandbox.serve() as url:
        yield url


@pytest.fixture
def root(base_url: str) -> Iterator[httpx.Client]:
    """Unauthenticated client on the root (token endpoints, admin)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def api(base_url: str, root: httpx.Client) -> Iterator[httpx.Client]:
    """Client on `<root>/v1.0` with a Visma Connect bearer token."""
    headers = {"Authorization": f"Bearer {connect_token(root)}"}
    with httpx.Client(base_url=f"{base_url}/v1.0", headers=headers, timeout=30) as client:
        yield client
