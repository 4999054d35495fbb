"""The "dataset" zip layout: one zip per data set of the manual, members in folders, and (with
`duplicate_basenames`) two IA_INVOICE members with the same base name. truth() never changes."""

import io
import json
import posixpath
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig
from p2p_assets.sandbox.basware.tables import DATA_SETS, tier_tables
from p2p_assets_tests.sandbox.helpers import BASIC, extract_ids

CONFIG = BaswareSandboxConfig(seed=5, invoices=60, initial_deltas=2, compression="zip")
FIRST_TABLES = {f"{d.name}_DATASET": d.tables[0] for d in DATA_SETS}


@pytest.fixture
def zipped(tmp_path: Path) -> BaswareSandbox:
    return BaswareSandbox(CONFIG, tmp_path)


@pytest.fixture
def zip_client(zipped: BaswareSandbox) -> Iterator[httpx.Client]:
    with zipped.serve() as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _archives(client: httpx.Client) -> list[tuple[dict, zipfile.ZipFile]]:
    """Every file of every listed extract, opened as a zip."""
    out = []
    for extract_id in extract_ids(client):
        for entry in client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json():
            content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
            out.append((entry, zipfile.ZipFile(io.BytesIO(content))))
    return out


def _table_of(member: str) -> str:
    return posixpath.basename(member).rsplit("_", 1)[0]


def test_one_zip_per_data_set_with_members_in_folders(
    zipped: BaswareSandbox, zip_client: httpx.Client
):
    truth_before = {t: zipped.truth(t) for t in tier_tables(CONFIG.tier)}
    response = zip_client.post("/_sandbox/faults", json={"zip_layout": "dataset"})
    assert response.status_code == 200
    archives = _archives(zip_client)
    first_extract = [
        entry for entry, _ in archives if entry["extractId"] == archives[0][0]["extractId"]
    ]
    assert sorted(e["fileName"] for e in first_extract) == sorted(
        f"{d.name}_DATASET_0001.zip" for d in DATA_SETS
    )
    latest: dict[str, dict[str, dict]] = {}
    for entry, archive in archives:
        assert entry["tableName"] == FIRST_TABLES[entry["fileName"].rsplit("_", 1)[0]]
        for member in archive.namelist():
            assert member.startswith("data/") and member.endswith("_0001.json")
            for record in json.loads(archive.read(member)):
                latest.setdefault(_table_of(member), {})[record["ID"]] = record
    assert set(latest) == set(tier_tables(CONFIG.tier))
    for table, records in latest.items():
        assert set(records) == {r["ID"] for r in truth_before[table]}, table
    assert {t: zipped.truth(t) for t in truth_before} == truth_before


def test_duplicate_basenames_split_the_invoices_over_two_folders(
    zipped: BaswareSandbox, zip_client: httpx.Client
):
    faults = {"zip_layout": "dataset", "duplicate_basenames": True}
    assert zip_client.post("/_sandbox/faults", json=faults).status_code == 200
    truth = {r["ID"] for r in zipped.truth("IA_INVOICE")}
    delivered: set[str] = set()
    flattened_loses = False
    for entry, archive in _archives(zip_client):
        if entry["tableName"] != "IA_INVOICE":
            continue
        names = [m for m in archive.namelist() if _table_of(m) == "IA_INVOICE"]
        assert sorted(names) == ["part1/IA_INVOICE_0001.json", "part2/IA_INVOICE_0001.json"]
        halves = [json.loads(archive.read(name)) for name in names]
        assert abs(len(halves[0]) - len(halves[1])) <= 1
        delivered |= {r["ID"] for half in halves for r in half}
        # A client keyed by base name keeps one half and silently loses the other.
        flattened = {posixpath.basename(n): json.loads(archive.read(n)) for n in names}
        flattened_loses |= len(flattened["IA_INVOICE_0001.json"]) < sum(map(len, halves))
        rows = [m for m in archive.namelist() if _table_of(m) == "IA_INVOICE_ROW"]
        assert rows == ["data/IA_INVOICE_ROW_0001.json"]
    assert delivered == truth and flattened_loses


def test_changing_the_layout_writes_new_files_and_clearing_it_restores_the_old(
    zipped: BaswareSandbox, zip_client: httpx.Client
):
    def listed() -> list[str]:
        first = extract_ids(zip_client)[0]
        return [
            e["fileName"] for e in zip_client.get(f"/v1/dataExtracts/{first}", auth=BASIC).json()
        ]

    by_table = listed()
    assert "IA_INVOICE_0001.json.zip" in by_table
    zipped.set_faults(zip_layout="dataset")
    by_data_set = listed()
    assert "INVOICE_DATASET_0001.zip" in by_data_set
    zipped.set_faults(zip_layout="dataset", duplicate_basenames=True)
    entry = next(
        e
        for e in zip_client.get(f"/v1/dataExtracts/{extract_ids(zip_client)[0]}", auth=BASIC).json()
        if e["fileName"] == "INVOICE_DATASET_0001.zip"
    )
    content = zip_client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    assert "part1/IA_INVOICE_0001.json" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    zipped.clear_faults()
    assert listed() == by_table
    extracts = zip_client.get("/v1/dataExtracts", auth=BASIC).json()
    assert extracts[0]["fileCount"] == len(by_table)


def test_wrong_count_on_a_data_set_zip_drops_one_record(
    zipped: BaswareSandbox, zip_client: httpx.Client
):
    zipped.set_faults(zip_layout="dataset")
    entry, archive = _archives(zip_client)[0]
    before = {m: len(json.loads(archive.read(m))) for m in archive.namelist()}
    zipped.set_faults(zip_layout="dataset", corrupt_files={entry["fileName"]: "wrong_count"})
    content = zip_client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    corrupted = zipfile.ZipFile(io.BytesIO(content))
    after = {m: len(json.loads(corrupted.read(m))) for m in corrupted.namelist()}
    assert set(after) == set(before) and sum(before.values()) - sum(after.values()) == 1


def test_the_dataset_layout_needs_zip_compression(tmp_path: Path):
    sandbox = BaswareSandbox(BaswareSandboxConfig(invoices=20, initial_deltas=0), tmp_path)
    before = [e["fileName"] for e in sandbox.files(0)]
    sandbox.set_faults(zip_layout="dataset", duplicate_basenames=True)
    assert [e["fileName"] for e in sandbox.files(0)] == before  # .json.gz files stay per table


def test_essentials_tenants_get_only_their_data_sets(tmp_path: Path):
    config = BaswareSandboxConfig(
        invoices=20, initial_deltas=0, compression="zip", tier="essentials"
    )
    sandbox = BaswareSandbox(config, tmp_path)
    sandbox.set_faults(zip_layout="dataset")
    names = {e["fileName"] for e in sandbox.files(0)}
    assert names == {f"{d.name}_DATASET_0001.zip" for d in DATA_SETS if not d.pro_only}
