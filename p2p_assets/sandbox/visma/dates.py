"""How the File API writes moments, and the sandbox clock's epoch seconds as UTC datetimes."""

from datetime import UTC, datetime


def utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def format_date(moment: datetime) -> str:
    """`2021-03-25T07:30:23.657Z`: milliseconds and a Z, as subscriber lists show it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
