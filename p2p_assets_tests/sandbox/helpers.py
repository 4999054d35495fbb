"""Constants and small helpers shared by the sandbox tests."""

import httpx

from p2p_assets.sandbox.basware import BaswareSandboxConfig

SMALL = BaswareSandboxConfig(seed=11, invoices=40, initial_deltas=2)
BASIC = ("sandbox-user", "sandbox-password")


def get_token(client: httpx.Client, scope: str = "dataExtract.read dataExtract.write") -> str:
    response = client.post(
        "/v1/tokens",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "client_credentials", "scope": scope},
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
