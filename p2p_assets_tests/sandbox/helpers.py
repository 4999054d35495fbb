"""Constants and small helpers shared by the sandbox tests."""

import gzip
import json

import httpx

from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig

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


def extract_ids(client: httpx.Client) -> list[str]:
    return [e["id"] for e in client.get("/v1/dataExtracts", auth=BASIC).json()]


def file_entry(client: httpx.Client, table: str = "IA_INVOICE", extract: int = 0) -> dict:
    """The file list item of `table`'s first file in the `extract`-th listed extract."""
    entries = client.get(f"/v1/dataExtracts/{extract_ids(client)[extract]}", auth=BASIC).json()
    return next(e for e in entries if e["tableName"] == table)


def record_count(sandbox: BaswareSandbox, file_name: str, extract: int = 0) -> int:
    """How many records the sandbox wrote into `file_name` (file lists no longer say)."""
    return next(e for e in sandbox.files(extract) if e["fileName"] == file_name)["recordCount"]


def json_records(content: bytes) -> list[dict]:
    return json.loads(gzip.decompress(content))
