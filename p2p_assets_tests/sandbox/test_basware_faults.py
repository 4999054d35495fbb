"""Faults injected on demand: failures with Retry-After, cut downloads, corrupt files, drift."""

import gzip
import json
import zlib

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareFaults, BaswareSandbox, BaswareSandboxConfig, FailRule
from p2p_assets_tests.sandbox.helpers import BASIC, file_entry, record_count


def test_fail_next_answers_before_normal_handling(sandbox: BaswareSandbox, client: httpx.Client):
    sandbox.set_faults(
        fail_next=[
            FailRule(status=429, count=2, retry_after=3),
            {"status": 503, "count": 1, "path_prefix": "/v1/dataExtracts"},
        ]
    )
    first, second, third = (client.get("/v1/dataExtracts", auth=BASIC) for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 503]
    assert first.headers["Retry-After"] == "3"
    assert "Retry-After" not in third.headers
    assert client.get("/v1/dataExtracts", auth=BASIC).status_code == 200
    assert sandbox.faults().fail_next == ()


def test_fail_next_500_body_and_admin_endpoint(client: httpx.Client):
    set_faults = client.post("/_sandbox/faults", json={"fail_next": [{"status": 500}]})
    assert set_faults.status_code == 200
    failed = client.get("/v1/dataExtracts", auth=BASIC)
    assert (failed.status_code, failed.json()) == (500, {"message": "Internal server error"})
    assert client.get("/v1/dataExtracts", auth=BASIC).status_code == 200
    assert client.post("/_sandbox/faults", json={"nonsense": 1}).status_code == 422
    state = client.get("/_sandbox/state").json()
    assert state["faults"]["fail_next"] == []


def test_drop_next_downloads_cuts_the_body(sandbox: BaswareSandbox, client: httpx.Client):
    entry = file_entry(client)
    sandbox.set_faults(drop_next_downloads=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    whole = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
    assert len(json.loads(gzip.decompress(whole.content))) == record_count(
        sandbox, entry["fileName"]
    )
    assert sum(sandbox.download_counts().values()) == 2


@pytest.mark.parametrize("kind", ["truncated", "garbage", "wrong_count"])
def test_corrupt_files(sandbox: BaswareSandbox, client: httpx.Client, kind: str):
    entry = file_entry(client)
    count = record_count(sandbox, entry["fileName"])
    sandbox.set_faults(corrupt_files={entry["fileName"]: kind})
    content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    if kind == "truncated":
        with pytest.raises((EOFError, zlib.error)):
            gzip.decompress(content)
    elif kind == "garbage":
        with pytest.raises(ValueError):
            json.loads(gzip.decompress(content))
    else:
        assert len(json.loads(gzip.decompress(content))) == count - 1
    sandbox.clear_faults()
    content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    assert len(json.loads(gzip.decompress(content))) == count


def test_schema_drift(sandbox: BaswareSandbox, client: httpx.Client):
    sandbox.set_faults(
        BaswareFaults(
            add_columns={"IA_INVOICE": ["TEXT9", "EXTRA_SUM"]},
            drop_columns={"IA_INVOICE": ["TEXT2"]},
            drift_from_extract=1,
        )
    )
    before = json.loads(
        gzip.decompress(
            client.get(file_entry(client)["downloadUrl"], auth=BASIC, follow_redirects=True).content
        )
    )
    after = json.loads(
        gzip.decompress(
            client.get(
                file_entry(client, extract=1)["downloadUrl"], auth=BASIC, follow_redirects=True
            ).content
        )
    )
    assert not any("TEXT9" in r for r in before) and any("TEXT2" in r for r in before)
    assert any("TEXT9" in r for r in after) and not any("TEXT2" in r for r in after)
    assert any("EXTRA_SUM" in r and isinstance(r["EXTRA_SUM"], float) for r in after)
    spec = client.get("/v1/dataExtracts/specification/tableDefinition", auth=BASIC).json()
    columns = {c["Column name"]: c["Data Type"] for c in spec[0]["Columns"]}
    assert columns["EXTRA_SUM"] == "NUMBER(18,2)" and "TEXT2" not in columns
    log = client.get("/v1/dataExtracts/specification/tableDefinition/changeLog", auth=BASIC).json()
    assert log[-1]["Column changes"]["IA_INVOICE"] == {
        "Added columns": ["TEXT9", "EXTRA_SUM"],
        "Removed columns": ["TEXT2"],
    }
    truth = {r["ID"]: r for r in sandbox.truth("IA_INVOICE")}
    assert any(r.get("TEXT9") is not None for r in truth.values())
    for record in after:
        assert truth[record["ID"]].get("TEXT2") is None


def test_wrong_count_disagrees_with_the_announced_record_count(tmp_path):
    """The corruption only shows against `recordCount`, so with `record_counts` on the file list
    announces one record more than the file holds."""
    config = BaswareSandboxConfig(seed=11, invoices=40, initial_deltas=0, record_counts=True)
    sandbox = BaswareSandbox(config, tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        entry = file_entry(client)
        sandbox.set_faults(corrupt_files={entry["fileName"]: "wrong_count"})
        content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    assert len(json.loads(gzip.decompress(content))) == entry["recordCount"] - 1
