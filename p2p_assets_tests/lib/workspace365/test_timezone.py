"""Date and time fields as the manual says: "If time zone is not specified, server time zone is
assumed"; WORKSPACE365_TIMEZONE makes the zone of values without one explicit."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from p2p_assets.lib.workspace365.errors import Workspace365ConfigError
from p2p_assets.lib.workspace365.fields import Field, FieldType, timezone_from, to_record

WHEN = [Field("When", FieldType.DATE_TIME)]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("value", "zone", "sent"),
    [
        (datetime(2017, 3, 30, 8, 25, 21), None, "2017-03-30T08:25:21"),  # the server's zone
        ("2017-03-30 08:25:21.5", None, "2017-03-30T08:25:21"),
        (datetime(2017, 3, 30, 8, 25, 21), AMSTERDAM, "2017-03-30T08:25:21+02:00"),  # summer
        (datetime(2017, 1, 30, 8, 25, 21), AMSTERDAM, "2017-01-30T08:25:21+01:00"),  # winter
        (datetime(2017, 1, 30, 8, 25, 21), ZoneInfo("UTC"), "2017-01-30T08:25:21Z"),
        # The clocks go back at 03:00: 02:30 happens twice; the first (summer time) is taken.
        (datetime(2026, 10, 25, 2, 30), AMSTERDAM, "2026-10-25T02:30:00+02:00"),
        # A value that carries its zone keeps it, whatever is configured.
        (datetime(2017, 3, 30, 8, 25, 21, tzinfo=UTC), AMSTERDAM, "2017-03-30T08:25:21Z"),
        ("2017-03-30T08:25:21+04:00", None, "2017-03-30T08:25:21+04:00"),
        (datetime(2017, 3, 30, 8, 0, tzinfo=timezone(timedelta(hours=-5))), None,
         "2017-03-30T08:00:00-05:00"),
    ],
)  # fmt: skip
def test_a_date_time_is_sent_with_the_zone_it_has_or_the_configured_one(value, zone, sent):
    record, errors = to_record(WHEN, {"When": value}, timezone=zone)
    assert (record, errors) == ({"When": sent}, {})


def test_date_only_and_time_only_fields_never_get_a_zone():
    fields = [Field("Day", FieldType.DATE), Field("At", FieldType.TIME)]
    moment = datetime(2017, 3, 30, 20, 13, 14)
    record, _ = to_record(fields, {"Day": moment, "At": moment}, timezone=AMSTERDAM)
    assert record == {"Day": "2017-03-30", "At": "20:13:14"}


@pytest.mark.parametrize(("value", "zone"), [(None, None), ("", None), (" UTC ", ZoneInfo("UTC")),
                                             ("Europe/Amsterdam", AMSTERDAM)])  # fmt: skip
def test_the_timezone_setting(value, zone):
    assert timezone_from(value) == zone


@pytest.mark.parametrize("value", ["Amsterdam", "Mars/Olympus", "+02:00", "CET+1", "../etc/x"])
def test_a_wrong_timezone_names_the_variable(value):
    with pytest.raises(Workspace365ConfigError) as caught:
        timezone_from(value)
    assert str(caught.value).startswith("WORKSPACE365_TIMEZONE must be an IANA time zone name")
    assert repr(value) in str(caught.value)
