"""The loader's promises, on small generated files in a real DuckDB file."""

import csv
import gzip
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from p2p_assets.lib.basware.loader import (
    BaswareExtractError,
    BaswareFileError,
    ExtractInfo,
    SourceFile,
    load_extract,
)
from p2p_assets.lib.warehouse.connection import WarehouseBusyError, connect

DEFINITIONS = {
    "IA_INVOICE": {
        "ID": "NVARCHAR2(64)",
        "INVOICE_NUMBER": "NVARCHAR2(50)",
        "GROSS_SUM": "NUMBER(18,2)",
        "DUE_DATE": "DATE",
        "CREATION_TIME": "TIMESTAMP",
        "STATUS": "NVARCHAR2(20)",
    }
}


def _extract(index: int) -> ExtractInfo:
    return ExtractInfo(
        id=f"{index:032x}",
        type="Initial" if index == 0 else "Delta",
        extract_date=datetime(2026, 1, 1) + timedelta(days=index),
    )


def _write(path: Path, records: list[dict], file_format: str) -> Path:
    if file_format == "json":
        path = path.with_suffix(".json.gz")
        with gzip.open(path, "wt") as handle:
            json.dump(records, handle)
    else:
        path = path.with_suffix(".csv")
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=sorted({k for r in records for k in r}))
            writer.writeheader()
            writer.writerows(records)
    return path


def _versions(seed: int, extracts: int) -> list[list[dict]]:
    """Per extract, invoices delivered: new ones and new versions of earlier ones."""
    rng = random.Random(seed)
    out, known = [], []
    for index in range(extracts):
        records = []
        for _ in range(rng.randint(3, 8)):
            if known and rng.random() < 0.5:
                invoice_id = rng.choice(known)
            else:
                invoice_id = f"INV{len(known):04d}"
                known.append(invoice_id)
            if any(r["ID"] == invoice_id for r in records):
                continue
            record = {
                "ID": invoice_id,
                "INVOICE_NUMBER": f"N-{invoice_id}",
                "GROSS_SUM": f"{rng.randint(100, 99999) / 100:.2f}",
                "DUE_DATE": f"{rng.randint(1, 28):02d}/03/2026",
                "CREATION_TIME": "28/02/2026, 10:17:02",
                "STATUS": rng.choice(["New", "Approved", "Paid"]) + f"@{index}",
            }
            if rng.random() < 0.3:
                del record["STATUS"]  # Basware omits null fields
            records.append(record)
        out.append(records)
    return out


def _expected(versions: list[list[dict]]) -> dict[str, dict]:
    current: dict[str, dict] = {}
    for records in versions:
        for record in records:
            current[record["ID"]] = record
    return current


def _load(con, tmp_path: Path, versions, index: int, file_format: str = "json"):
    records = versions[index]
    path = _write(tmp_path / f"e{index}_IA_INVOICE_0001", records, file_format)
    source = SourceFile("IA_INVOICE", f"IA_INVOICE_0001.{file_format}", path, len(records))
    return load_extract(con, _extract(index), [source], DEFINITIONS, ["IA_INVOICE"])


def _current(con) -> dict[str, dict]:
    rows = con.execute(
        "SELECT ID, GROSS_SUM, STATUS, _extract_id FROM basware.ia_invoice ORDER BY ID"
    ).fetchall()
    return {r[0]: {"GROSS_SUM": r[1], "STATUS": r[2], "_extract_id": r[3]} for r in rows}


@pytest.mark.parametrize("file_format", ["json", "csv"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_and_any_reload_gives_the_same_current_state(tmp_path, seed, file_format):
    versions = _versions(seed, 5)
    expected = _expected(versions)
    orders = [list(range(5)), [4, 2, 0, 3, 1], [1, 1, 0, 4, 3, 4, 2, 0]]
    for n, order in enumerate(orders):
        with connect(tmp_path / f"w{n}.duckdb") as con:
            for index in order:
                _load(con, tmp_path, versions, index, file_format)
            current = _current(con)
            history = con.execute("SELECT count(*) FROM basware_history.ia_invoice").fetchone()
        assert set(current) == set(expected)
        for invoice_id, record in expected.items():
            assert current[invoice_id]["GROSS_SUM"] == Decimal(record["GROSS_SUM"])
            assert current[invoice_id]["STATUS"] == record.get("STATUS")
        assert history == (sum(len(v) for v in versions),)


def test_types_are_exact_and_lineage_is_recorded(tmp_path):
    versions = _versions(7, 1)
    with connect(tmp_path / "w.duckdb") as con:
        _load(con, tmp_path, versions, 0)
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'basware' AND table_name = 'ia_invoice'"
            ).fetchall()
        )
        lineage = con.execute(
            "SELECT DISTINCT _extract_id, _file_name FROM basware_history.ia_invoice"
        ).fetchall()
    assert types["GROSS_SUM"] == "DECIMAL(18,2)"
    assert types["DUE_DATE"] == "TIMESTAMP"  # an Oracle DATE carries a time of day
    assert types["CREATION_TIME"] == "TIMESTAMP"
    assert types["ID"] == "VARCHAR"
    assert lineage == [(f"{0:032x}", "IA_INVOICE_0001.json")]


def test_new_column_is_added_and_missing_one_is_null(tmp_path):
    first = [{"ID": "A", "GROSS_SUM": "1.00", "STATUS": "New"}]
    second = [{"ID": "B", "GROSS_SUM": "2.00", "BRAND_NEW": "x"}]
    with connect(tmp_path / "w.duckdb") as con:
        for index, records in enumerate([first, second]):
            path = _write(tmp_path / f"e{index}", records, "json")
            result = load_extract(
                con,
                _extract(index),
                [SourceFile("IA_INVOICE", path.name, path, 1)],
                DEFINITIONS,
                ["IA_INVOICE"],
            )
        rows = con.execute(
            "SELECT ID, STATUS, BRAND_NEW FROM basware.ia_invoice ORDER BY ID"
        ).fetchall()
    assert rows == [("A", "New", None), ("B", None, "x")]
    assert result["IA_INVOICE"].new_columns == ["BRAND_NEW"]
    assert "STATUS" in result["IA_INVOICE"].missing_columns


def test_an_oracle_date_keeps_its_time_of_day(tmp_path):
    path = _write(
        tmp_path / "e0",
        [{"ID": "A", "DUE_DATE": "28/03/2026, 14:05:09"}, {"ID": "B", "DUE_DATE": "29/03/2026"}],
        "json",
    )
    with connect(tmp_path / "w.duckdb") as con:
        load_extract(
            con, _extract(0), [SourceFile("IA_INVOICE", path.name, path, 2)], DEFINITIONS, []
        )
        rows = con.execute("SELECT ID, DUE_DATE FROM basware.ia_invoice ORDER BY ID").fetchall()
    assert rows == [("A", datetime(2026, 3, 28, 14, 5, 9)), ("B", datetime(2026, 3, 29))]


def test_a_warehouse_with_date_columns_is_widened_to_timestamps(tmp_path):
    path = _write(tmp_path / "e1", [{"ID": "B", "DUE_DATE": "29/03/2026, 08:00:00"}], "json")
    with connect(tmp_path / "w.duckdb") as con:
        # A warehouse written when DATE columns were DATE.
        for schema in ("basware", "basware_history"):
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(
                f"CREATE TABLE {schema}.ia_invoice (ID VARCHAR, DUE_DATE DATE, "
                "_extract_id VARCHAR, _extract_date TIMESTAMP, _file_name VARCHAR, "
                "_loaded_at TIMESTAMP)"
            )
        con.execute(
            "INSERT INTO basware.ia_invoice VALUES ('A', DATE '2026-03-01', 'x', "
            "TIMESTAMP '2025-01-01', 'f', TIMESTAMP '2025-01-01')"
        )
        load_extract(
            con, _extract(1), [SourceFile("IA_INVOICE", path.name, path, 1)], DEFINITIONS, []
        )
        rows = con.execute("SELECT ID, DUE_DATE FROM basware.ia_invoice ORDER BY ID").fetchall()
    assert rows == [("A", datetime(2026, 3, 1)), ("B", datetime(2026, 3, 29, 8))]


@pytest.mark.parametrize(
    ("content", "count", "reason", "corrupt"),
    [
        ('[{"ID": "A", "GROSS_SUM": "12.345"}]', 1, "column GROSS_SUM: value '12.345'", False),
        ('[{"ID": "A", "GROSS_SUM": "lots"}]', 1, "column GROSS_SUM: value 'lots'", False),
        ('[{"ID": "A", "DUE_DATE": "31/02/2026"}]', 1, "column DUE_DATE", False),
        ('[{"ID": "A"}, {"ID": "B"}]', 3, "announced 3 records, the file holds 2", True),
        ('[{"ID": "A"}, {"GROSS_SUM": "1"}]', 2, "a record has no ID", False),
        ('[{"ID": "A", ', 1, "Malformed JSON", True),
    ],
)
def test_bad_file_fails_the_whole_extract_and_names_file_and_reason(
    tmp_path, content, count, reason, corrupt
):
    """Only a provably damaged copy is `corrupt` (downloaded again); a value we cannot convert or
    a record without an ID is not: the same bytes would come again."""
    good = _write(tmp_path / "good", [{"ID": "OK", "GROSS_SUM": "1.00"}], "json")
    with connect(tmp_path / "w.duckdb") as con:
        load_extract(
            con,
            _extract(0),
            [SourceFile("IA_INVOICE", "g.json", good, 1)],
            DEFINITIONS,
            ["IA_INVOICE"],
        )
        before = con.execute("SELECT * FROM basware.ia_invoice").fetchall()
        bad = tmp_path / "IA_INVOICE_0001.json"
        bad.write_text(content)
        row_file = _write(tmp_path / "rows", [{"ID": "R1", "INVOICE_ID": "OK"}], "json")
        with pytest.raises(BaswareFileError) as raised:
            load_extract(
                con,
                _extract(1),
                [
                    SourceFile("IA_INVOICE_ROW", "IA_INVOICE_ROW_0001.json", row_file, 1),
                    SourceFile("IA_INVOICE", "IA_INVOICE_0001.json", bad, count),
                ],
                DEFINITIONS,
                ["IA_INVOICE", "IA_INVOICE_ROW"],
            )
        assert "IA_INVOICE_0001.json" in str(raised.value)
        assert reason in str(raised.value)
        assert raised.value.corrupt is corrupt
        assert f"{1:032x}" in str(raised.value)
        # Nothing of the failed extract is visible, in any table.
        assert con.execute("SELECT * FROM basware.ia_invoice").fetchall() == before
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name = 'ia_invoice_row'"
        ).fetchall()
        assert tables == []
        assert con.execute("SELECT count(*) FROM basware.extracts").fetchone() == (1,)


def test_a_table_basware_added_is_loaded_typed_by_its_definition(tmp_path):
    path = _write(tmp_path / "x", [{"ID": "A", "AMOUNT": "1.50", "NOTE": "n"}], "json")
    definitions = {**DEFINITIONS, "IA_MYSTERY": {"ID": "NVARCHAR2(64)", "AMOUNT": "NUMBER(18,2)"}}
    with connect(tmp_path / "w.duckdb") as con:
        loads = load_extract(
            con,
            _extract(0),
            [SourceFile("IA_MYSTERY", "IA_MYSTERY_0001.json", path)],
            definitions,
            ["IA_INVOICE", "IA_MYSTERY"],
        )
        rows = con.execute("SELECT ID, AMOUNT, NOTE FROM basware.ia_mystery").fetchall()
        history = con.execute("SELECT count(*) FROM basware_history.ia_mystery").fetchone()
    assert rows == [("A", Decimal("1.50"), "n")] and history == (1,)
    assert list(loads) == ["IA_INVOICE", "IA_MYSTERY"]


@pytest.mark.parametrize("table", ["IA-MYSTERY", "../X", "1TABLE", "IA_INVOICE;DROP"])
def test_a_table_name_that_is_not_an_identifier_is_refused(tmp_path, table):
    path = _write(tmp_path / "x", [{"ID": "A"}], "json")
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(BaswareFileError, match="not a plain identifier"):
            load_extract(con, _extract(0), [SourceFile(table, "x.json", path)], DEFINITIONS, [])


def test_a_landing_path_with_glob_characters_never_reaches_a_reader(tmp_path):
    directory = tmp_path / "data[1]"
    directory.mkdir()
    path = _write(directory / "x", [{"ID": "A"}], "json")
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(BaswareExtractError, match="glob character"):
            load_extract(
                con, _extract(0), [SourceFile("IA_INVOICE", "x.json", path)], DEFINITIONS, []
            )


def test_missing_files_are_refused(tmp_path):
    path = _write(tmp_path / "x", [{"ID": "A"}], "json")
    with connect(tmp_path / "w.duckdb") as con:
        info = ExtractInfo("f" * 32, "Delta", datetime(2026, 1, 2), file_count=2)
        with pytest.raises(BaswareExtractError, match="announced 2 files, listed 1"):
            load_extract(con, info, [SourceFile("IA_INVOICE", "a.json", path)], DEFINITIONS, [])


def test_a_locked_warehouse_is_waited_for_not_failed(tmp_path):
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
            "print('held', flush=True); time.sleep(1.5); c.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusyError, match="stayed locked"):
            with connect(db, wait_seconds=0.2):
                pass
        started = time.monotonic()
        with connect(db, wait_seconds=30) as con:
            assert con.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - started > 0.5
    finally:
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()


def test_an_id_repeated_across_files_of_one_extract_keeps_the_later_file(tmp_path):
    one = _write(tmp_path / "one", [{"ID": "A", "STATUS": "first"}, {"ID": "B"}], "json")
    two = _write(tmp_path / "two", [{"ID": "A", "STATUS": "second"}], "json")
    sources = [
        SourceFile("IA_INVOICE", "IA_INVOICE_0001.json", one, 2),
        SourceFile("IA_INVOICE", "IA_INVOICE_0002.json", two, 1),
    ]
    with connect(tmp_path / "w.duckdb") as con:
        for _ in range(2):  # and again: a reload keeps the same answer
            load_extract(con, _extract(0), sources, DEFINITIONS, ["IA_INVOICE"])
            rows = con.execute(
                "SELECT ID, STATUS, _file_name FROM basware.ia_invoice ORDER BY ID"
            ).fetchall()
            assert rows == [
                ("A", "second", "IA_INVOICE_0002.json"),
                ("B", None, "IA_INVOICE_0001.json"),
            ]


def test_json_arrays_and_newline_delimited_records_load_alike(tmp_path):
    """The manual does not say how records sit in a JSON file: one array is read without
    sniffing, newline-delimited records (plain, gzipped, or beside an array file) as before."""
    records = _versions(7, 1)[0]
    half = len(records) // 2
    array = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"
    lines = "".join(json.dumps(r) + "\n" for r in records)
    shapes = {
        "array": [("a.json", array)],
        "bom_array": [("a.json", "\ufeff  " + array)],
        "ndjson": [("a.ndjson", lines)],
        "ndjson_named_json": [("a.json.gz", lines)],
        "mixed": [
            ("a.json", json.dumps(records[:half])),
            ("b.json", "".join(json.dumps(r) + "\n" for r in records[half:])),
        ],
    }
    for shape, files in shapes.items():
        sources = []
        for name, text in files:
            path = tmp_path / shape / name
            path.parent.mkdir(exist_ok=True)
            if name.endswith(".gz"):
                with gzip.open(path, "wt", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                path.write_text(text, encoding="utf-8")
            sources.append(SourceFile("IA_INVOICE", name, path))
        with connect(tmp_path / f"{shape}.duckdb") as con:
            load_extract(con, _extract(0), sources, DEFINITIONS, ["IA_INVOICE"])
            current = _current(con)
        assert set(current) == {r["ID"] for r in records}, shape
        for record in records:
            assert current[record["ID"]]["GROSS_SUM"] == Decimal(record["GROSS_SUM"]), shape


def test_the_json_layout_is_read_from_the_first_character(tmp_path):
    from p2p_assets.lib.basware.reading import json_layout

    def source(name: str, text: str) -> SourceFile:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return SourceFile("IA_INVOICE", name, path)

    array, lines = source("a.json", ' \n[{"ID": "1"}]'), source("b.json", '{"ID": "1"}\n')
    assert json_layout([array]) == "array"
    assert json_layout([lines]) == "auto"
    assert json_layout([array, lines]) == "auto"
    assert json_layout([SourceFile("IA_INVOICE", "gone.json", tmp_path / "gone.json")]) == "auto"
