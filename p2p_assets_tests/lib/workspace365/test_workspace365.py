"""The Workspace 365 client against the Workspace 365 sandbox over loopback HTTP: field conversion
as the manual describes it, the documented refusals, and no record ever sent twice."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from p2p_assets.lib.workspace365.client import Workspace365Client
from p2p_assets.lib.workspace365.errors import (
    Workspace365AppUnavailableError,
    Workspace365AuthError,
    Workspace365NotFoundError,
    Workspace365RejectedError,
    Workspace365UncertainError,
)
from p2p_assets.lib.workspace365.fields import Field, FieldType, encode, to_record
from p2p_assets.sandbox.workspace365 import (
    INVOICE_EXCEPTIONS,
    SANDBOX_TOKEN,
    BusinessApp,
    Workspace365Sandbox,
    Workspace365SandboxConfig,
)
from p2p_assets.sandbox.workspace365.config import FailRule

APP = INVOICE_EXCEPTIONS.name
FIELDS = [
    Field("Basware invoice id", FieldType.SINGLE_LINE_TEXT, column="id", required=True),
    Field("Invoice number", FieldType.SINGLE_LINE_TEXT, column="number", required=True),
    Field("Supplier", FieldType.SINGLE_LINE_TEXT, column="supplier", required=True),
    Field("Amount", FieldType.CURRENCY, column="gross", currency_column="currency", required=True),
    Field("Due date", FieldType.DATE, column="due"),
    Field("Days overdue", FieldType.INTEGER, column="days"),
    Field("Status", FieldType.DROPDOWN, column="status", required=True,
          options=("New", "In progress", "Waiting for supplier", "Resolved")),
    Field("Reasons", FieldType.CHECKBOX_LIST, column="reasons",
          options=("Overdue", "Disputed", "Payment blocked", "Not matched to a PO")),
    Field("Case number", FieldType.AUTONUMBER),
]  # fmt: skip
ROW = {
    "id": "INV-1", "number": "2026-0042", "supplier": "Bakkerij de Vries BV",
    "gross": Decimal("1234567.89"), "currency": "EUR", "due": date(2026, 10, 1), "days": 52,
    "status": "New", "reasons": ["Overdue", "Payment blocked"],
}  # fmt: skip


@pytest.fixture
def served(tmp_path: Path):
    config = Workspace365SandboxConfig(
        environments={"p2p": SANDBOX_TOKEN, "off": "other-token"},
        api_disabled=frozenset({"off"}),
        apps=(INVOICE_EXCEPTIONS, BusinessApp("Disabled app", (), enabled=False)),
    )
    sandbox = Workspace365Sandbox(config, tmp_path / "w365")
    with sandbox.serve() as url:
        yield sandbox, url


def test_a_record_is_converted_exactly_and_created(served) -> None:
    sandbox, url = served
    record, errors = to_record(FIELDS, ROW)
    assert errors == {}
    assert "Case number" not in record  # autonumber: never sent
    assert b'"Amount": {"Amount": 1234567.89, "Currency": "EUR"}' in encode(record)
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN) as client:
        record_id = client.create_record(APP, record)
    (stored,) = sandbox.records("p2p", APP)
    assert stored["id"] == record_id > 1000
    assert stored["record"]["Amount"] == {"Amount": Decimal("1234567.89"), "Currency": "EUR"}
    assert stored["record"]["Due date"] == "2026-10-01"
    assert stored["record"]["Reasons"] == ["Overdue", "Payment blocked"]


def test_our_validation_stops_a_bad_record_before_it_is_sent() -> None:
    bad = {**ROW, "gross": Decimal("1"), "currency": "EURO", "days": 2**31, "status": "Open",
           "reasons": ["Late"], "number": None}  # fmt: skip
    record, errors = to_record(FIELDS, bad)
    assert set(errors) == {"Amount", "Days overdue", "Status", "Reasons", "Invoice number"}
    assert errors["Invoice number"] == "is required"
    assert "ISO 4217" in errors["Amount"]
    # Optional values: null, "" for a dropdown, [] for a checkbox list.
    optional = [
        Field("Due", FieldType.DATE),
        Field("Pick", FieldType.DROPDOWN, options=("A",)),
        Field("Ticks", FieldType.CHECKBOX_LIST, options=("A",)),
        Field("When", FieldType.DATE_TIME),
        Field("At", FieldType.TIME),
        Field("Share", FieldType.PERCENTAGE),
    ]
    assert to_record(optional, {}) == ({"Due": None, "Pick": "", "Ticks": [], "When": None,
                                        "At": None, "Share": None}, {})  # fmt: skip
    moment = {"When": datetime(2017, 3, 30, 8, 25, 21), "At": "20:13:14", "Share": Decimal("15.5")}
    record, _ = to_record(optional, moment)
    # No zone given: none sent, and Workspace 365 assumes the server's (the manual).
    assert record["When"] == "2017-03-30T08:25:21" and record["At"] == "20:13:14"
    assert encode({"Share": record["Share"]}) == b'{"Share": 15.5}'


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_vendor_answers_field_errors_in_the_asked_language(served, language: str) -> None:
    sandbox, url = served
    record = {"Basware invoice id": "X", "Supplier": "S", "Due date": "2012-13-13",
              "Amount": {"Amount": 1, "Currency": "EUR"}, "Status": "Invalid"}  # fmt: skip
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN, language=language) as client:
        with pytest.raises(Workspace365RejectedError) as caught:
            client.create_record(APP, record)
    errors = caught.value.field_errors
    assert errors["Status"] == "_ValueNotFound"
    if language == "nl":
        assert errors["Invoice number"] == "Is vereist"
        assert errors["Due date"].startswith("Fout bij het converteren van gegevens '2012-13-13'")
    else:
        assert errors["Invoice number"] == "Is required"
        assert errors["Due date"] == "Error during converting data '2012-13-13' to type 'DateTime'"
    assert sandbox.records() == []


def test_the_documented_refusals(served) -> None:
    _, url = served
    record, _ = to_record(FIELDS, ROW)
    with Workspace365Client(url, "p2p", "wrong-token") as client:
        with pytest.raises(Workspace365AuthError, match="401") as caught:
            client.create_record(APP, record)
    assert "wrong-token" not in str(caught.value)
    with Workspace365Client(url, "off", "other-token") as client:
        with pytest.raises(Workspace365AuthError, match="not enabled"):
            client.create_record(APP, record)
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN) as client:
        with pytest.raises(Workspace365NotFoundError, match="HTTP 404.*'No such app'"):
            client.create_record("No such app", record)
        # The app cannot take records, whichever record: not a refusal of this one.
        with pytest.raises(Workspace365AppUnavailableError) as disabled:
            client.create_record("Disabled app", record)
    assert not isinstance(disabled.value, Workspace365RejectedError)
    assert disabled.value.vendor_message == "Business App isn't enabled"
    assert "HTTP 403, Business App isn't enabled" in str(disabled.value)


def test_an_administrator_disables_and_enables_an_app(served) -> None:
    sandbox, url = served
    record, _ = to_record(FIELDS, ROW)
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN, language="nl") as client:
        sandbox.set_app(APP, enabled=False)
        with pytest.raises(Workspace365AppUnavailableError, match="niet ingeschakeld"):
            client.create_record(APP, record)
        sandbox.set_app(APP, installed=False)
        with pytest.raises(Workspace365NotFoundError):
            client.create_record(APP, record)
        sandbox.set_app(APP, installed=True, enabled=True)
        assert client.create_record(APP, record) > 1000
    assert len(sandbox.records()) == 1


def test_an_answer_lost_after_the_record_was_created_is_uncertain_and_not_resent(served) -> None:
    sandbox, url = served
    record, _ = to_record(FIELDS, ROW)
    sandbox.set_faults(drop_after_create=1)
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN) as client:
        with pytest.raises(Workspace365UncertainError):
            client.create_record(APP, record)
    assert len(sandbox.records()) == 1  # created once, never sent again
    sandbox.set_faults(fail_next=(FailRule(503),))
    with Workspace365Client(url, "p2p", SANDBOX_TOKEN) as client:
        with pytest.raises(Workspace365UncertainError, match="503"):
            client.create_record(APP, record)
    assert sandbox.counters()["created"] == 1
