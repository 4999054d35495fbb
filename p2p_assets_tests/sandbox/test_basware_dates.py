"""Oracle DATE columns carry a time of day by default, in files and in truth(), as Basware's
extracts show them; `dates_with_time=False` gives plain dates."""

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig
from p2p_assets.sandbox.basware.schema import COLUMNS
from p2p_assets_tests.sandbox.helpers import BASIC, json_records

WITH_TIME = re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$")
DATE_ONLY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
DATE_COLUMNS = {t: [c.name for c in cols if c.oracle_type == "DATE"] for t, cols in COLUMNS.items()}


def _download_all(sandbox: BaswareSandbox) -> dict[str, list[dict]]:
    """Every record of every published extract's files, per table (JSON, gzip)."""
    records: dict[str, list[dict]] = {}
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        for extract in client.get("/v1/dataExtracts", auth=BASIC).json():
            for entry in client.get(f"/v1/dataExtracts/{extract['id']}", auth=BASIC).json():
                content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True)
                records.setdefault(entry["tableName"], []).extend(json_records(content.content))
    return records


def test_every_date_value_has_a_time_and_many_are_not_midnight(tmp_path: Path):
    sandbox = BaswareSandbox(BaswareSandboxConfig(seed=3, invoices=200), tmp_path)
    records = _download_all(sandbox)
    for table, names in DATE_COLUMNS.items():
        for name in names:
            values = [r[name] for r in records.get(table, []) if name in r]
            assert all(WITH_TIME.match(v) for v in values), (table, name)
            if name in ("INVOICE_DATE", "DUE_DATE", "PAYMENT_DATE", "DELIVERY_DATE"):
                timed = sum(not v.endswith("00:00:00") for v in values)
                assert 0.5 < timed / len(values) < 0.9, (table, name, timed, len(values))


def test_truth_dates_are_datetimes_equal_to_the_files(tmp_path: Path):
    sandbox = BaswareSandbox(BaswareSandboxConfig(seed=3, invoices=60), tmp_path)
    latest: dict[str, dict] = {}
    for record in _download_all(sandbox)["IA_INVOICE"]:  # oldest extract first: last one wins
        latest[record["ID"]] = record
    truth = {r["ID"]: r for r in sandbox.truth("IA_INVOICE")}
    assert latest.keys() == truth.keys()
    for record_id, record in latest.items():
        for name in DATE_COLUMNS["IA_INVOICE"]:
            expected = truth[record_id][name]
            if name not in record:
                assert expected is None
                continue
            assert isinstance(expected, dt.datetime)
            assert dt.datetime.strptime(record[name], "%d/%m/%Y, %H:%M:%S") == expected
    # Whole-day relations survive: one time of day per record, the same on all its dates.
    for record in truth.values():
        assert (record["DUE_DATE"] - record["INVOICE_DATE"]).seconds == 0
        if record["PAYMENT_DATE"] is not None:
            assert record["PAYMENT_DATE"] >= record["INVOICE_DATE"]


def test_a_redelivered_record_keeps_its_times(tmp_path: Path):
    sandbox = BaswareSandbox(BaswareSandboxConfig(seed=3, invoices=60), tmp_path)
    versions: dict[str, set[str]] = {}
    for record in _download_all(sandbox)["IA_INVOICE"]:
        versions.setdefault(record["ID"], set()).add(record["INVOICE_DATE"])
    assert any(len(v) == 1 for v in versions.values())
    assert all(len(v) == 1 for v in versions.values())


def test_csv_dates_have_the_time_too(tmp_path: Path):
    config = BaswareSandboxConfig(
        invoices=30, initial_deltas=0, file_format="csv", compression="zip"
    )
    sandbox = BaswareSandbox(config, tmp_path)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        extract_id = client.get("/v1/dataExtracts", auth=BASIC).json()[0]["id"]
        entry = client.get(f"/v1/dataExtracts/{extract_id}", auth=BASIC).json()[0]
        content = client.get(entry["downloadUrl"], auth=BASIC, follow_redirects=True).content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        text = archive.read("IA_INVOICE_0001.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert all(WITH_TIME.match(row["INVOICE_DATE"]) for row in rows)


@pytest.mark.parametrize("drifted", [False, True])
def test_dates_without_time_when_turned_off(tmp_path: Path, drifted: bool):
    config = BaswareSandboxConfig(seed=3, invoices=40, dates_with_time=False)
    sandbox = BaswareSandbox(config, tmp_path)
    if drifted:
        sandbox.set_faults(add_columns={"IA_INVOICE": ["EXTRA_DATE"]})
    invoices = _download_all(sandbox)["IA_INVOICE"]
    assert all(DATE_ONLY.match(r["INVOICE_DATE"]) for r in invoices)
    truth = sandbox.truth("IA_INVOICE")
    assert all(type(r["INVOICE_DATE"]) is dt.date for r in truth)
    assert all(isinstance(r["CREATION_TIME"], dt.datetime) for r in truth)  # TIMESTAMP unchanged
    if drifted:
        assert all(DATE_ONLY.match(r["EXTRA_DATE"]) for r in invoices if "EXTRA_DATE" in r)


def test_drift_added_date_columns_carry_a_time(sandbox: BaswareSandbox):
    sandbox.set_faults(add_columns={"IA_INVOICE": ["EXTRA_DATE"]})
    values = [r["EXTRA_DATE"] for r in sandbox.truth("IA_INVOICE") if r.get("EXTRA_DATE")]
    assert values and all(isinstance(v, dt.datetime) for v in values)
    assert any(v.time() != dt.time(0) for v in values)


def test_table_definition_examples_show_the_time(client: httpx.Client):
    spec = client.get("/v1/dataExtracts/specification/tableDefinition", auth=BASIC).json()
    invoice = next(t for t in spec if t["Table name"] == "IA_INVOICE")
    example = next(c for c in invoice["Columns"] if c["Column name"] == "INVOICE_DATE")
    assert example["Data Type"] == "DATE" and WITH_TIME.match(example["Example value"])
