"""The Basware sandbox's HTTP API against the manual and the gathered facts, over real loopback
HTTP with plain httpx."""

import base64
import json
import re
import time

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig
from p2p_assets_tests.sandbox.helpers import (
    BASIC,
    SMALL,
    bearer,
    get_token,
    json_records,
    record_count,
)

DAY_FIRST = re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$")


def test_token_response_has_the_documented_shape(client: httpx.Client):
    response = client.post(
        "/v1/tokens",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "client_credentials", "scope": "dataExtract.read dataExtrakt.write"},
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "scope", "expires_in", "token_type"}
    assert body["scope"] == "dataExtract.read"  # the misspelled scope is ignored
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["typ"] == "JWT"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"scope": "dataExtract.read"}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "invalid_request"),
        ({"grant_type": "password", "scope": "dataExtract.read"}, "unsupported_grant_type"),
    ],
)
def test_token_request_errors(client: httpx.Client, form: dict, error: str):
    response = client.post("/v1/tokens", auth=("sandbox-client", "sandbox-secret"), data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_token_with_wrong_client_secret_is_invalid_client(client: httpx.Client):
    response = client.post(
        "/v1/tokens",
        auth=("sandbox-client", "wrong"),
        data={"grant_type": "client_credentials", "scope": "dataExtract.read"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_tokens_expire(sandbox: BaswareSandbox, client: httpx.Client):
    sandbox.set_faults(token_lifetime_seconds=1)
    response = client.post(
        "/v1/tokens",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "client_credentials", "scope": "dataExtract.read"},
    )
    assert response.json()["expires_in"] == 1
    headers = bearer(response.json()["access_token"])
    assert client.get("/v1/dataExtracts", headers=headers).status_code == 200
    time.sleep(1.2)
    expired = client.get("/v1/dataExtracts", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"message": "Unauthorized"}


def test_basic_auth_works_on_api_endpoints(client: httpx.Client):
    assert client.get("/v1/dataExtracts", auth=BASIC).status_code == 200
    wrong = client.get("/v1/dataExtracts", auth=("sandbox-user", "nope"))
    assert (wrong.status_code, wrong.json()) == (401, {"message": "Unauthorized"})


def test_error_bodies(client: httpx.Client):
    assert client.get("/v1/dataExtracts").json() == {"message": "Unauthorized"}
    missing = client.get("/v1/dataExtracts/" + "0" * 32, auth=BASIC)
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    bad = client.get("/v1/dataExtracts", params={"processingStatus": "Done"}, auth=BASIC)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "processingStatus"]
    assert {"msg", "type"} <= set(bad.json()["detail"][0])


def test_scopes_are_enforced(client: httpx.Client):
    read_only = bearer(get_token(client, "dataExtract.read"))
    extract_id = client.get("/v1/dataExtracts", headers=read_only).json()[0]["id"]
    refused = client.post(f"/v1/dataExtracts/{extract_id}/acknowledge", headers=read_only)
    assert refused.status_code == 403
    write_only = bearer(get_token(client, "dataExtract.write"))
    assert client.get("/v1/dataExtracts", headers=write_only).status_code == 403


def test_listing_and_file_list(client: httpx.Client):
    headers = bearer(get_token(client))
    extracts = client.get("/v1/dataExtracts", headers=headers).json()
    assert [e["type"] for e in extracts] == ["Initial", "Delta", "Delta"]
    for extract in extracts:
        assert re.fullmatch(r"[0-9a-f]{32}", extract["id"])
        assert all(DAY_FIRST.match(extract[k]) for k in ("startDate", "endDate", "extractDate"))
        assert extract["processingStatus"] == "WaitingForExport"
    dates = [time.strptime(e["extractDate"], "%d/%m/%Y, %H:%M:%S") for e in extracts]
    assert dates == sorted(dates)
    file_list = client.get(f"/v1/dataExtracts/{extracts[0]['id']}", headers=headers).json()
    assert len(file_list) == extracts[0]["fileCount"]
    first = file_list[0]
    # Exactly the documented fields: no recordCount, which the real API does not have.
    assert set(first) == {
        "extractId", "tableName", "fileName", "startDate", "endDate", "downloadUrl"
    }  # fmt: skip
    assert first["fileName"] == f"{first['tableName']}_0001.json.gz"
    assert first["downloadUrl"].endswith(f"/getFile?file={first['fileName']}")


def test_record_counts_are_an_opt_in_extension(tmp_path):
    config = BaswareSandboxConfig(seed=11, invoices=40, initial_deltas=0, record_counts=True)
    sandbox = BaswareSandbox(config, tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
        entries = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()
        for entry in entries[:3]:
            content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
            assert entry["recordCount"] == len(json_records(content))


def test_download_follows_a_redirect_that_needs_authorization(
    sandbox: BaswareSandbox, client: httpx.Client
):
    headers = bearer(get_token(client))
    extract_id = client.get("/v1/dataExtracts", headers=headers).json()[0]["id"]
    entry = client.get(f"/v1/dataExtracts/{extract_id}", headers=headers).json()[0]
    redirect = client.get(entry["downloadUrl"], headers=headers)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert client.get(location).status_code == 401
    response = client.get(location, headers=headers)
    records = json_records(response.content)
    assert len(records) == record_count(sandbox, entry["fileName"])
    assert all("ID" in record and None not in record.values() for record in records)


def test_get_file_without_file_parameter_is_422(client: httpx.Client):
    extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
    response = client.get(f"/v1/dataExtracts/{extract_id}/getFile", auth=BASIC)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "file"]


def test_download_limit(sandbox: BaswareSandbox, client: httpx.Client):
    extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
    entry = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()[0]
    for _ in range(SMALL.download_limit):
        ok = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
        assert ok.status_code == 200
    refused = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    assert refused.status_code == 403
    assert "limit" in refused.json()["message"].lower()
    assert sandbox.download_counts() == {(extract_id, entry["fileName"]): SMALL.download_limit}


@pytest.mark.parametrize(
    "path", ["/v1/dataExtracts/{id}/acknowledge", "/v1/dataExtract/{id}/acknowledge"]
)
def test_acknowledge_on_both_paths(client: httpx.Client, path: str):
    headers = bearer(get_token(client))
    extract_id = client.get("/v1/dataExtracts", headers=headers).json()[1]["id"]
    response = client.post(path.format(id=extract_id), headers=headers)
    assert response.json() == {"succeeded": True, "message": "Action done successfully"}
    exported = client.get(
        "/v1/dataExtracts", headers=headers, params={"processingStatus": "Exported"}
    )
    assert [e["id"] for e in exported.json()] == [extract_id]
    waiting = client.get(
        "/v1/dataExtracts", headers=headers, params={"processingStatus": "WaitingForExport"}
    ).json()
    assert extract_id not in {e["id"] for e in waiting} and len(waiting) == 2
    listed = {e["id"]: e for e in client.get("/v1/dataExtracts", headers=headers).json()}
    assert len(listed) == 3 and listed[extract_id]["processingStatus"] == "Exported"


def test_waiting_for_export_never_lists_an_acknowledged_extract(
    sandbox: BaswareSandbox, client: httpx.Client
):
    ids = [e["id"] for e in client.get("/v1/dataExtracts", auth=BASIC).json()]
    for acknowledged, extract_id in enumerate(ids, start=1):
        client.post(f"/v1/dataExtracts/{extract_id}/acknowledge", auth=BASIC)
        sandbox.publish_delta()  # new extracts keep arriving meanwhile
        waiting = client.get(
            "/v1/dataExtracts", auth=BASIC, params={"processingStatus": "WaitingForExport"}
        ).json()
        assert not {e["id"] for e in waiting} & set(ids[:acknowledged])
        assert all(e["processingStatus"] == "WaitingForExport" for e in waiting)
    everything = client.get("/v1/dataExtracts", auth=BASIC).json()
    assert [e["processingStatus"] for e in everything] == ["Exported"] * 3 + [
        "WaitingForExport"
    ] * 3


def test_table_definition_and_change_log(client: httpx.Client):
    headers = bearer(get_token(client, "dataExtract.read"))
    spec = client.get("/v1/dataExtracts/specification/tableDefinition", headers=headers).json()
    assert len(spec) == 14
    invoice = next(t for t in spec if t["Table name"] == "IA_INVOICE")
    types = {c["Column name"]: c["Data Type"] for c in invoice["Columns"]}
    assert types["NET_SUM"] == "NUMBER(18,2)" and types["PAYMENT_BLOCK"] == "NUMBER(1)"
    assert types["INVOICE_DATE"] == "DATE" and types["CREATION_TIME"] == "TIMESTAMP"
    assert set(invoice["Columns"][0]) == {
        "Column name",
        "Data Type",
        "Field definition",
        "Example value",
    }
    log = client.get("/v1/dataExtracts/specification/tableDefinition/changeLog", headers=headers)
    assert log.json()[0]["Version"] == "1.0"


def test_publish_delta(sandbox: BaswareSandbox, client: httpx.Client):
    assert len(client.get("/v1/dataExtracts", auth=BASIC).json()) == 3
    published = sandbox.publish_delta()
    assert published is not None and published["type"] == "Delta"
    assert client.post("/_sandbox/publish").status_code == 200
    ids = [e["id"] for e in client.get("/v1/dataExtracts", auth=BASIC).json()]
    assert len(ids) == 5 and ids[3] == published["id"]


def test_delta_interval_publishes_with_wall_time(tmp_path):
    config = BaswareSandboxConfig(
        invoices=20, initial_deltas=0, delta_interval_seconds=0.5, max_deltas=2
    )
    sandbox = BaswareSandbox(config, tmp_path)
    assert sandbox.published_deltas() == 0
    time.sleep(1.1)
    assert sandbox.published_deltas() == 2
    assert sandbox.publish_delta() is None


def test_state_is_shared_between_sandboxes_on_one_dir(
    sandbox: BaswareSandbox, client: httpx.Client
):
    other = BaswareSandbox(SMALL, sandbox.state_dir)
    token = get_token(client)
    with other.serve() as other_url, httpx.Client(base_url=other_url) as other_client:
        extracts = other_client.get("/v1/dataExtracts", headers=bearer(token)).json()
        assert other_client.post(
            f"/v1/dataExtracts/{extracts[0]['id']}/acknowledge", headers=bearer(token)
        ).json()["succeeded"]
        other.publish_delta()
    listed = client.get("/v1/dataExtracts", auth=BASIC).json()
    assert listed[0]["processingStatus"] == "Exported"
    assert len(listed) == 4
    other.set_faults(drop_next_downloads=3)
    assert sandbox.faults().drop_next_downloads == 3
