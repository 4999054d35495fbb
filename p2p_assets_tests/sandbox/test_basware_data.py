"""The generated data: deterministic, referentially sound, typed, and in every file format."""

import csv
import datetime as dt
import gzip
import io
import json
import logging
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

# The client's references: the sandbox's data must honour what the client's checks verify.
from p2p_assets.lib.basware.tables import REFERENCES
from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig
from p2p_assets.sandbox.basware.data import generate_extract
from p2p_assets.sandbox.basware.plan import Plan
from p2p_assets.sandbox.basware.tables import ALL_TABLES, ESSENTIALS_TABLES, PRO_TABLES
from p2p_assets_tests.sandbox.helpers import BASIC, SMALL, record_count

log = logging.getLogger(__name__)


def _cache_bytes(sandbox: BaswareSandbox) -> dict[str, bytes]:
    for index in range(sandbox.published_deltas() + 1):
        sandbox.files(index)
    root = sandbox.state_dir / "files"
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_config_gives_byte_identical_files(tmp_path: Path):
    first = _cache_bytes(BaswareSandbox(SMALL, tmp_path / "a"))
    second = _cache_bytes(BaswareSandbox(SMALL, tmp_path / "b"))
    assert first == second and len(first) > 30
    other = _cache_bytes(BaswareSandbox(BaswareSandboxConfig(seed=12, invoices=40), tmp_path / "c"))
    assert set(other.values()) != set(first.values())


def test_truth_honours_every_reference(sandbox: BaswareSandbox):
    truth = {table: sandbox.truth(table) for table in ALL_TABLES}
    for ref in REFERENCES:
        parents = {r["ID"] for r in truth[ref.parent]}
        children = [r[ref.column] for r in truth[ref.child] if r.get(ref.column) is not None]
        assert children, ref
        assert set(children) <= parents, ref
    order_numbers = {r["ORDER_NUMBER"] for r in truth["OM_ORDER_DATA"]}
    assert {r["ORDER_NUMBER"] for r in truth["IA_INVOICE_ORDER_NUMBER"]} <= order_numbers
    receipts = {r["ORDER_ROW_ID"] for r in truth["OM_GOODS_RECEIPT"]}
    assert receipts <= {r["ID"] for r in truth["OM_ORDER_ROW"]}


def test_every_extract_references_only_records_delivered_so_far():
    plan = Plan(SMALL)
    seen: dict[str, set[str]] = {table: set() for table in ALL_TABLES}
    for index in range(4):
        frames = generate_extract(plan, index)
        for table, frame in frames.items():
            seen[table] |= set(frame["ID"].to_list())
        for ref in REFERENCES:
            if ref.child in frames:
                values = set(frames[ref.child][ref.column].drop_nulls().to_list())
                assert values <= seen[ref.parent], (index, ref)


def test_truth_is_typed_and_sums_are_exact(sandbox: BaswareSandbox):
    invoices = sandbox.truth("IA_INVOICE")
    rows = sandbox.truth("IA_INVOICE_ROW")
    first = invoices[0]
    assert isinstance(first["NET_SUM"], Decimal) and first["NET_SUM"].as_tuple().exponent == -2
    assert isinstance(first["INVOICE_DATE"], dt.datetime)  # an Oracle DATE has a time of day
    assert isinstance(first["CREATION_TIME"], dt.datetime)
    assert first["PAYMENT_BLOCK"] in (0, 1)
    net_by_invoice: dict[str, Decimal] = {}
    for row in rows:
        net_by_invoice[row["INVOICE_ID"]] = (
            net_by_invoice.get(row["INVOICE_ID"], 0) + row["NET_SUM"]
        )
    assert all(net_by_invoice[i["ID"]] == i["NET_SUM"] for i in invoices)
    assert all(i["GROSS_SUM"] == i["NET_SUM"] + i["TAX_SUM"] for i in invoices)


def test_deltas_redeliver_existing_records_with_new_values(sandbox: BaswareSandbox):
    plan = Plan(SMALL)
    initial = generate_extract(plan, 0)["IA_INVOICE"]
    delta = generate_extract(plan, 2)["IA_INVOICE"]
    again = delta.join(initial, on="ID", suffix="_OLD")
    assert again.height > 0  # re-deliveries, same ID
    assert delta.height > again.height  # and new invoices
    assert (again["STATUS"] != again["STATUS_OLD"]).any()
    truth = {r["ID"]: r for r in sandbox.truth("IA_INVOICE")}
    for record in again.iter_rows(named=True):
        assert truth[record["ID"]]["STATUS"] is not None


def test_json_files_read_by_name_with_nulls_omitted(client: httpx.Client, sandbox: BaswareSandbox):
    extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
    entry = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()[0]
    records = json.loads(
        gzip.decompress(client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content)
    )
    truth = {r["ID"]: r for r in sandbox.truth("IA_INVOICE")}
    record = next(r for r in records if "PAYMENT_DATE" not in r)
    assert "DUE_DATE" in record
    assert truth[record["ID"]]["PAYMENT_DATE"] is None
    assert isinstance(record["NET_SUM"], float) and isinstance(record["PAYMENT_BLOCK"], int)
    invoice_date = dt.datetime.strptime(record["INVOICE_DATE"], "%d/%m/%Y, %H:%M:%S")
    assert invoice_date == truth[record["ID"]]["INVOICE_DATE"]


@pytest.mark.parametrize("compression", ["zip", "none"])
def test_csv_files(tmp_path: Path, compression: str):
    config = BaswareSandboxConfig(
        invoices=30, initial_deltas=1, file_format="csv", compression=compression
    )
    sandbox = BaswareSandbox(config, tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
        entries = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()
        entry = next(e for e in entries if e["tableName"] == "IA_INVOICE")
        suffix = ".csv.zip" if compression == "zip" else ".csv"
        assert entry["fileName"] == "IA_INVOICE_0001" + suffix
        content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            content = archive.read("IA_INVOICE_0001.csv")
    text = content.decode("utf-8")
    assert "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == record_count(sandbox, entry["fileName"])
    truth = {r["ID"]: r for r in sandbox.truth("IA_INVOICE")}
    for row in rows:
        assert truth[row["ID"]]["SUPPLIER_NAME"] == row["SUPPLIER_NAME"]
        assert (truth[row["ID"]]["TEXT1"] or "") == row["TEXT1"]  # empty field = null
        assert Decimal(row["GROSS_SUM"]) == truth[row["ID"]]["GROSS_SUM"]
    assert any('"' in row["TEXT1"] for row in rows)  # quoting was exercised


def test_essentials_tier_hides_pro_tables(tmp_path: Path):
    sandbox = BaswareSandbox(BaswareSandboxConfig(invoices=30, tier="essentials"), tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        spec = client.get("/v1/dataExtracts/specification/tableDefinition", auth=BASIC).json()
        assert [t["Table name"] for t in spec] == list(ESSENTIALS_TABLES)
        tables = set()
        for extract in client.get("/v1/dataExtracts", auth=BASIC).json():
            entries = client.get(f"/v1/dataExtracts/{extract['id']}", auth=BASIC).json()
            tables |= {e["tableName"] for e in entries}
    assert tables == set(ESSENTIALS_TABLES)
    assert not tables & set(PRO_TABLES)
    assert sandbox.truth("IA_ACTION_LOG") == []


def test_large_files_split_by_max_records(tmp_path: Path):
    config = BaswareSandboxConfig(
        invoices=500, invoice_rows=2_345, initial_deltas=0, max_records_per_file=1_000
    )
    manifest = BaswareSandbox(config, tmp_path).files(0)
    rows = [e for e in manifest if e["tableName"] == "IA_INVOICE_ROW"]
    assert [e["fileName"] for e in rows] == [f"IA_INVOICE_ROW_000{i}.json.gz" for i in (1, 2, 3)]
    assert [e["recordCount"] for e in rows] == [1_000, 1_000, 345]


def test_generation_speed_smoke():
    """Not a benchmark: logs how long 200,000 invoice rows take, asserts only the count."""
    plan = Plan(BaswareSandboxConfig(invoices=50_000, initial_deltas=0))
    started = time.perf_counter()
    frames = generate_extract(plan, 0)
    log.info(
        "generated %s invoice rows in %.2fs",
        frames["IA_INVOICE_ROW"].height,
        time.perf_counter() - started,
    )
    assert frames["IA_INVOICE_ROW"].height == 200_000
