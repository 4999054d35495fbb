"""Faults that hand the client hostile input: extracts it cannot fetch, file names it must not
trust, a table it has never seen. Each is set over HTTP, as a test driving a separately served
sandbox would set it."""

import datetime as dt
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig
from p2p_assets.sandbox.basware.tables import ESSENTIALS_TABLES, PRO_TABLES
from p2p_assets_tests.sandbox.helpers import BASIC, extract_ids, json_records

HOSTILE_ITEM = {
    "id": "../../x",
    "type": "Delta",
    "startDate": "28/03/2024, 02:15:00",
    "endDate": "29/03/2024, 02:15:00",
    "fileCount": 1,
    "processingStatus": "WaitingForExport",
    "extractDate": "29/03/2024, 02:20:00",
    "extractName": "SandboxDataAccess",
}
ADDED = "IA_INVOICE_COMMENT"


def _set_faults(client: httpx.Client, **faults) -> None:
    response = client.post("/_sandbox/faults", json=faults)
    assert response.status_code == 200, response.text
    for name, value in faults.items():
        assert response.json()[name] == value


def test_extra_extracts_are_listed_as_given_and_lead_nowhere(client: httpx.Client):
    exported = {**HOSTILE_ITEM, "id": "f" * 32, "processingStatus": "Exported"}
    odd = {"id": "0" * 32, "type": "Weekly"}  # no processingStatus at all
    _set_faults(client, extra_extracts=[HOSTILE_ITEM, exported, odd])
    listed = client.get("/v1/dataExtracts", auth=BASIC).json()
    assert listed[-3:] == [HOSTILE_ITEM, exported, odd]
    waiting = client.get(
        "/v1/dataExtracts", auth=BASIC, params={"processingStatus": "WaitingForExport"}
    ).json()
    assert HOSTILE_ITEM in waiting and exported not in waiting and odd not in waiting
    done = client.get("/v1/dataExtracts", auth=BASIC, params={"processingStatus": "Exported"})
    assert done.json() == [exported]
    for item in (HOSTILE_ITEM, exported, odd):
        path = f"/v1/dataExtracts/{quote(item['id'], safe='')}"
        assert client.get(path, auth=BASIC).status_code == 404
        assert client.post(path + "/acknowledge", auth=BASIC).status_code == 404
        assert client.get(path + "/getFile?file=x.json.gz", auth=BASIC).status_code == 404


@pytest.mark.parametrize(
    "announced",
    ["../IA_INVOICE_0001.json.gz", "IA_INVOICE_*.json.gz", "manifest.json", ".hidden.json.gz"],
)
def test_file_names_announce_a_name_but_serve_the_real_file(
    sandbox: BaswareSandbox, client: httpx.Client, announced: str
):
    real = "IA_INVOICE_0001.json.gz"
    expected = next(e for e in sandbox.files(0) if e["fileName"] == real)["recordCount"]
    _set_faults(client, file_names={real: announced})
    extract_id = extract_ids(client)[0]
    entries = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()
    entry = next(e for e in entries if e["tableName"] == "IA_INVOICE")
    assert entry["fileName"] == announced
    assert entry["downloadUrl"].endswith(f"/getFile?file={quote(announced, safe='')}")
    assert real not in {e["fileName"] for e in entries}
    response = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    assert response.status_code == 200
    assert len(json_records(response.content)) == expected
    assert sandbox.download_counts() == {(extract_id, real): 1}


def test_an_added_table_is_specified_at_once_and_delivered_from_its_extract(
    sandbox: BaswareSandbox, client: httpx.Client
):
    _set_faults(client, add_tables={ADDED: 1})
    spec = client.get("/v1/dataExtracts/specification/tableDefinition", auth=BASIC).json()
    added = next(t for t in spec if t["Table name"] == ADDED)
    types = {c["Column name"]: c["Data Type"] for c in added["Columns"]}
    assert types == {
        "ID": "NVARCHAR2(64)",
        "INVOICE_ID": "NVARCHAR2(64)",
        "COMMENT_TEXT": "NVARCHAR2(255)",
        "COMMENT_DATE": "DATE",
        "AMOUNT": "NUMBER(18,2)",
        "CREATION_TIME": "TIMESTAMP",
    }
    log = client.get("/v1/dataExtracts/specification/tableDefinition/changeLog", auth=BASIC)
    entry = log.json()[-1]
    assert entry["Added tables"] == [ADDED] and entry["Version"] > log.json()[0]["Version"]
    delivered: list[dict] = []
    for index, extract_id in enumerate(extract_ids(client)):
        entries = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()
        mine = [e for e in entries if e["tableName"] == ADDED]
        assert bool(mine) == (index >= 1)
        for e in mine:
            assert re.fullmatch(rf"{ADDED}_\d{{4}}\.json\.gz", e["fileName"])
            content = client.get(e["downloadUrl"], auth=BASIC, follow_redirects=True).content
            delivered.extend(json_records(content))
    truth = sandbox.truth(ADDED)
    assert truth and {r["ID"] for r in truth} == {r["ID"] for r in delivered}
    assert len(truth) == len(delivered)  # comments are never re-delivered
    invoices = {r["ID"] for r in sandbox.truth("IA_INVOICE")}
    assert {r["INVOICE_ID"] for r in truth} <= invoices
    assert all(isinstance(r["COMMENT_DATE"], dt.datetime) for r in truth)
    assert sandbox.truth(ADDED) == truth  # deterministic
    sandbox.clear_faults()
    with pytest.raises(KeyError):
        sandbox.truth(ADDED)


def test_added_tables_leave_the_tier_rules_alone(tmp_path: Path):
    config = BaswareSandboxConfig(invoices=30, initial_deltas=1, tier="essentials")
    sandbox = BaswareSandbox(config, tmp_path)
    sandbox.set_faults(add_tables={ADDED: 0})
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        spec = client.get("/v1/dataExtracts/specification/tableDefinition", auth=BASIC).json()
        assert [t["Table name"] for t in spec] == [*ESSENTIALS_TABLES, ADDED]
        entries = client.get(f"/v1/dataExtracts/{extract_ids(client)[0]}", auth=BASIC).json()
    tables = {e["tableName"] for e in entries}
    assert ADDED in tables and not tables & set(PRO_TABLES)


@pytest.mark.parametrize(
    "faults",
    [
        {"zip_layout": "pages"},
        {"add_tables": {"IA_INVOICE": 1}},
        {"add_tables": {"../X": 1}},
        {"add_tables": {ADDED: -1}},
        {"extra_extracts": ["not an object"]},
        {"file_names": {"IA_INVOICE_0001.json.gz": ""}},
    ],
)
def test_nonsense_faults_are_refused(client: httpx.Client, faults: dict):
    assert client.post("/_sandbox/faults", json=faults).status_code == 422
