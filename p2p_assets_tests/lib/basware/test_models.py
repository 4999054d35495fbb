"""Parsing what the Basware API returns: by field name, day-first dates, omitted null fields."""

from datetime import datetime
from typing import Any

import pytest

from p2p_assets.lib.basware import (
    BaswareResponseError,
    Extract,
    ExtractFile,
    TableDefinition,
    in_extract_order,
    parse_basware_datetime,
)
from p2p_assets.lib.basware.errors import error_detail

EXTRACT_ITEM = {
    "id": "0123456789abcdef0123456789abcdef",
    "type": "Delta",
    "startDate": "27/03/2024, 10:17:02",
    "endDate": "28/03/2024, 10:17:02",
    "fileCount": 14,
    "processingStatus": "WaitingForExport",
    "extractDate": "28/03/2024, 10:20:00",
    "extractName": "Daily",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("28/03/2024, 10:17:02", datetime(2024, 3, 28, 10, 17, 2)),
        ("01/02/2024, 00:00:00", datetime(2024, 2, 1)),  # day first: 1 February, not 2 January
        ("12/11/2024, 23:59:59", datetime(2024, 11, 12, 23, 59, 59)),
        ("28/03/2024 10:17:02", datetime(2024, 3, 28, 10, 17, 2)),
        ("28/03/2024", datetime(2024, 3, 28)),
        ("28/03/2024, 10:17:02.250000", datetime(2024, 3, 28, 10, 17, 2, 250000)),
        ("2024-03-28T10:17:02", datetime(2024, 3, 28, 10, 17, 2)),
        ("2024-03-28T10:17:02Z", datetime(2024, 3, 28, 10, 17, 2)),
        ("2024-03-28T12:17:02+02:00", datetime(2024, 3, 28, 10, 17, 2)),
        ("2024-03-28", datetime(2024, 3, 28)),
        (" 28/03/2024, 10:17:02 ", datetime(2024, 3, 28, 10, 17, 2)),
        ("", None),
        (None, None),
    ],
)
def test_parse_basware_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_basware_datetime(text) == expected


@pytest.mark.parametrize("text", ["03/28/2024, 10:17:02", "yesterday", "31/02/2024"])
def test_unparseable_dates_are_reported(text: str) -> None:
    with pytest.raises(BaswareResponseError, match="extractDate"):
        parse_basware_datetime(text, "extractDate")


def test_extract_reads_fields_by_name_and_ignores_unknown_ones() -> None:
    item = {"someNewField": {"nested": 1}, **dict(reversed(list(EXTRACT_ITEM.items())))}
    extract = Extract.from_api(item)
    assert extract == Extract(
        id="0123456789abcdef0123456789abcdef",
        type="Delta",
        start_date=datetime(2024, 3, 27, 10, 17, 2),
        end_date=datetime(2024, 3, 28, 10, 17, 2),
        file_count=14,
        processing_status="WaitingForExport",
        extract_date=datetime(2024, 3, 28, 10, 20),
        extract_name="Daily",
    )
    assert extract.raw["someNewField"] == {"nested": 1}
    assert hash(extract)  # frozen and hashable despite the raw mapping


def test_extract_tolerates_omitted_fields() -> None:
    extract = Extract.from_api({"id": "abc", "fileCount": "3"})
    assert extract.type is None and extract.extract_date is None and extract.extract_name is None
    assert extract.file_count == 3


@pytest.mark.parametrize("item", [{}, {"id": ""}, {"type": "Delta"}, ["abc"]])
def test_extract_without_id_is_refused(item: Any) -> None:
    with pytest.raises(BaswareResponseError):
        Extract.from_api(item)


def test_extract_file_with_and_without_record_count() -> None:
    base = {
        "extractId": "abc",
        "tableName": "IA_INVOICE",
        "fileName": "IA_INVOICE_0001.json.gz",
        "startDate": "27/03/2024, 10:17:02",
        "downloadUrl": "https://api.basware.com/v1/dataExtracts/abc/getFile?file=IA_INVOICE_0001.json.gz",
        "unknown": True,
    }
    real = ExtractFile.from_api(base)
    assert real.record_count is None
    assert real.end_date is None
    assert real.start_date == datetime(2024, 3, 27, 10, 17, 2)
    assert ExtractFile.from_api({**base, "recordCount": 1234}).record_count == 1234


def test_extract_file_fills_omitted_extract_id_and_table_name() -> None:
    file = ExtractFile.from_api(
        {"fileName": "IA_INVOICE_ROW_0002.csv.zip", "downloadUrl": "https://x/y"}, extract_id="e1"
    )
    assert (file.extract_id, file.table_name) == ("e1", "IA_INVOICE_ROW")


def test_extract_file_without_download_url_is_refused() -> None:
    with pytest.raises(BaswareResponseError, match="downloadUrl"):
        ExtractFile.from_api({"extractId": "e", "fileName": "A_0001.json"})


def test_table_definition_keys_with_spaces() -> None:
    item = {
        "Table name": "IA_INVOICE",
        "Columns": [
            {
                "Column name": "ID",
                "Data Type": "NVARCHAR2",
                "Field definition": "Identifier",
                "Example value": "abc",
                "New key": 1,
            },
            {"Column name": "NET_SUM", "Data Type": "NUMBER(18,2)"},
        ],
    }
    definition = TableDefinition.from_api(item)
    assert definition.table_name == "IA_INVOICE"
    assert [(c.name, c.data_type, c.definition, c.example) for c in definition.columns] == [
        ("ID", "NVARCHAR2", "Identifier", "abc"),
        ("NET_SUM", "NUMBER(18,2)", None, None),
    ]


def test_extracts_in_order_initial_first_on_ties() -> None:
    def make(id_: str, type_: str, extract_date: str, start: str) -> Extract:
        return Extract.from_api(
            {"id": id_, "type": type_, "extractDate": extract_date, "startDate": start}
        )

    delta_2 = make("d2", "Delta", "03/01/2024, 01:00:00", "02/01/2024, 01:00:00")
    delta_1 = make("d1", "Delta", "02/01/2024, 01:00:00", "01/01/2024, 01:00:00")
    initial = make("zz", "Initial", "02/01/2024, 01:00:00", "01/01/2024, 01:00:00")
    tied = make("aa", "Delta", "02/01/2024, 01:00:00", "01/01/2024, 01:00:00")
    ordered = in_extract_order([delta_2, tied, delta_1, initial])
    assert [e.id for e in ordered] == ["zz", "aa", "d1", "d2"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"message":"Unauthorized"}', "Unauthorized"),
        (b'{"detail":"Not Found"}', "Not Found"),
        (
            b'{"detail":[{"loc":["query","processingStatus"],"msg":"bad value","type":"x"}]}',
            "query.processingStatus: bad value",
        ),
        (b'{"message":"Internal server error"}', "Internal server error"),
        (
            b'{"error":"invalid_request","error_description":"missing scope"}',
            "invalid_request: missing scope",
        ),
        (b"<html><body>Bad   gateway</body></html>", "<html><body>Bad gateway</body></html>"),
        (b"", None),
    ],
)
def test_error_detail_reads_documented_bodies(body: bytes, expected: str | None) -> None:
    assert error_detail(body) == expected
