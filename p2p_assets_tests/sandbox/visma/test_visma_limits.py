"""The plans' usage limits on the sandbox clock: the daily call window and its edges, calls per
window and per day, window days a month, token calls outside the window, and the switch."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig
from p2p_assets.sandbox.visma.limits import Limits
from p2p_assets.sandbox.visma.window import parse_window
from p2p_assets_tests.sandbox.visma.conftest import CHEAP, CONNECT_FORM, IN_WINDOW, LEGACY_FORM

QUOTA_CODE = "policies.ratelimit.QuotaViolation"
DAY = timedelta(days=1)


@contextmanager
def served(tmp_path: Path, **config: Any) -> Iterator[tuple[VismaSandbox, httpx.Client]]:
    """A sandbox with one small file and the spike arrest off, its clock in the window, and a
    client on its root whose token outlives the test's clock moves."""
    config = {"spike_interval_seconds": 0, "files_per_type": {7101: 1}, **config}
    config.setdefault("token_lifetime_seconds", 60 * 86400)
    sandbox = VismaSandbox(VismaSandboxConfig(**config), tmp_path)
    sandbox.set_now(IN_WINDOW)
    with sandbox.serve() as url, httpx.Client(base_url=url) as client:
        token = client.post("/connect/token", data=CONNECT_FORM).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield sandbox, client


def _call(client: httpx.Client) -> httpx.Response:
    return client.get("/v1.0/files", params=CHEAP)


def _quota_fault(response: httpx.Response) -> str:
    """The faultstring of a quota refusal (asserting it is one)."""
    assert response.status_code == 429, response.text
    assert "Retry-After" not in response.headers
    fault = response.json()["fault"]
    assert fault["detail"] == {"errorcode": QUOTA_CODE}
    assert fault["faultstring"].startswith("Rate limit quota violation. Quota limit exceeded: ")
    return fault["faultstring"]


# -- the window grammar -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("06:00-08:00", "06:00-08:00 UTC"),
        ("Mon 06:00-08:00", "Mon 06:00-08:00 UTC"),
        ("Mon,Thu 06:00-08:00 Europe/Amsterdam", "Mon,Thu 06:00-08:00 Europe/Amsterdam"),
        ("thursday, MON 6:00 - 8:00 UTC", "Mon,Thu 06:00-08:00 UTC"),
        ("23:00-01:00", "23:00-01:00 UTC"),
    ],
)
def test_window_grammar(text: str, described: str):
    assert str(parse_window(text)) == described


@pytest.mark.parametrize(
    "text",
    ["", "06:00", "6-8", "Fun 06:00-08:00", "06:00-06:00", "25:00-26:00", "06:00-08:00 Mars/Base"],
)
def test_bad_windows_are_refused(text: str):
    with pytest.raises(ValueError):
        parse_window(text)
    with pytest.raises(ValueError):
        VismaSandboxConfig(plan="weekly", window=text)


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_window_days_and_zones():
    window = parse_window("Mon,Thu 06:00-08:00 Europe/Amsterdam")
    assert str(window.day_of(_at(2025, 3, 3, 5, 0))) == "2025-03-03"  # Monday 06:00 CET
    assert window.day_of(_at(2025, 3, 3, 7, 0)) is None  # 08:00 CET
    assert window.day_of(_at(2025, 3, 4, 5, 30)) is None  # Tuesday
    assert str(window.day_of(_at(2025, 7, 3, 4, 0))) == "2025-07-03"  # Thursday 06:00 CEST
    overnight = parse_window("23:00-01:00")
    assert str(overnight.day_of(_at(2025, 3, 4, 0, 30))) == "2025-03-03"  # the day it started
    assert overnight.day_of(_at(2025, 3, 4, 1, 0)) is None


def test_the_plans_numbers():
    at = IN_WINDOW.timestamp()
    weekly, continuous = (Limits(VismaSandboxConfig(plan=p)) for p in ("weekly", "continuous"))
    gate = weekly.gate(at)
    assert [(q.counter, q.cap) for q in gate.quotas] == [
        ("calls:window:2025-03-03", 1000),
        ("calls:day:2025-03-03", None),
    ]
    assert gate.window_days is not None and gate.window_days.cap == 7
    assert Limits(VismaSandboxConfig(plan="daily")).gate(at).window_days.cap == 40  # type: ignore[union-attr]
    assert [(q.counter, q.cap) for q in continuous.gate(at).quotas] == [
        ("calls:day:2025-03-03", 6000)
    ]
    assert continuous.gate(at - 5 * 3600).outside_window is False  # no window at all


# -- over HTTP ---------------------------------------------------------------------------------
@pytest.mark.parametrize("plan", ["weekly", "daily"])
def test_window_edges(tmp_path: Path, plan: str):
    with served(tmp_path, plan=plan) as (sandbox, client):
        statuses = {}
        for moment in ("05:59:59", "06:00:00", "07:59:59", "08:00:00"):
            hour, minute, second = map(int, moment.split(":"))
            sandbox.set_now(IN_WINDOW.replace(hour=hour, minute=minute, second=second))
            response = _call(client)
            statuses[moment] = response.status_code
            if response.status_code == 429:
                assert _quota_fault(response).endswith(
                    "API calls are allowed only inside the time window 06:00-08:00 UTC"
                )
        state = client.get("/_sandbox/state").json()["counters"]
    assert statuses == {"05:59:59": 429, "06:00:00": 200, "07:59:59": 200, "08:00:00": 429}
    assert state["refused_outside_window"] == 2 and state["throttled"] == 2
    assert state["calls:window:2025-03-03"] == 2 and state["calls:day:2025-03-03"] == 2
    assert state["window_days:2025-03"] == 1


@pytest.mark.parametrize("path", ["/connect/token", "/authentication/token"])
def test_token_calls_outside_the_window_are_refused(tmp_path: Path, path: str):
    form = CONNECT_FORM if path == "/connect/token" else LEGACY_FORM
    with served(tmp_path, plan="weekly") as (sandbox, client):
        sandbox.set_now(IN_WINDOW.replace(hour=12))
        refused = client.post(path, data=form)
        sandbox.set_now(IN_WINDOW.replace(hour=7, minute=59))
        admitted = client.post(path, data=form)
    assert _quota_fault(refused).endswith("inside the time window 06:00-08:00 UTC")
    assert admitted.status_code == 200
    counters = sandbox.counters()
    # Two successful token calls (the fixture's and one here); the refused one is not one.
    assert (counters["tokens_issued"], counters["tokens:2025-03"]) == (2, 2)
    assert (counters["auth_calls"], counters["refused_outside_window"]) == (3, 1)


def test_calls_per_window(tmp_path: Path):
    with served(tmp_path, plan="daily", calls_per_window=3) as (sandbox, client):
        statuses = [_call(client).status_code for _ in range(5)]
        fault = _quota_fault(_call(client))
        sandbox.set_now(IN_WINDOW + DAY)  # the next window has its own calls
        next_day = _call(client).status_code
    assert statuses == [200, 200, 200, 429, 429] and next_day == 200
    assert fault.endswith(": 3 API calls within the time window")
    counters = sandbox.counters()
    assert counters["calls:window:2025-03-03"] == 3  # refused calls count toward nothing
    assert (counters["calls:day:2025-03-03"], counters["refused_window_quota"]) == (3, 3)
    assert counters["calls:window:2025-03-04"] == 1


def test_the_1000th_call_of_a_window_is_the_last(tmp_path: Path):
    with served(tmp_path, plan="weekly") as (sandbox, client):
        sandbox.state.bump("calls:window:2025-03-03", 998)
        assert [_call(client).status_code for _ in range(2)] == [200, 200]
        fault = _quota_fault(_call(client))
    assert fault.endswith(": 1000 API calls within the time window")
    assert sandbox.counters()["calls:window:2025-03-03"] == 1000


def test_6000_calls_a_utc_day_on_the_continuous_plan(tmp_path: Path):
    with served(tmp_path, plan="continuous") as (sandbox, client):
        sandbox.set_now(datetime(2025, 3, 3, 23, 59, 50, tzinfo=UTC))
        sandbox.state.bump("calls:day:2025-03-03", 5999)
        last = _call(client)
        fault = _quota_fault(_call(client))
        sandbox.set_now(datetime(2025, 3, 4, 0, 0, tzinfo=UTC))
        next_day = _call(client)
        state = client.get("/_sandbox/state").json()["counters"]
    assert last.status_code == 200 and next_day.status_code == 200
    assert fault.endswith(": 6000 API calls per day")
    assert state["calls:day:2025-03-03"] == 6000 and state["calls:day:2025-03-04"] == 1
    assert state["refused_day_quota"] == 1 and "window_days:2025-03" not in state


def test_calls_per_day_override(tmp_path: Path):
    with served(tmp_path, plan="continuous", calls_per_day=2) as (sandbox, client):
        statuses = [_call(client).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert sandbox.counters()["refused_day_quota"] == 1


def test_the_weekly_plan_has_windows_on_seven_days_a_month(tmp_path: Path):
    first = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)
    with served(tmp_path, plan="weekly") as (sandbox, client):
        statuses = []
        for day in range(8):
            sandbox.set_now(first + day * DAY)
            statuses.append(_call(client).status_code)
        fault = _quota_fault(_call(client))  # still the 8th day: still refused
        sandbox.set_now(first + 6 * DAY + timedelta(minutes=30))
        seventh_again = _call(client).status_code  # a window already opened admits more
        sandbox.set_now(datetime(2025, 4, 1, 6, 30, tzinfo=UTC))
        april = _call(client).status_code
    assert statuses == [200] * 7 + [429] and seventh_again == 200 and april == 200
    assert fault.endswith(": time windows on 7 days per month")
    counters = sandbox.counters()
    assert (counters["window_days:2025-03"], counters["window_days:2025-04"]) == (7, 1)
    assert counters["refused_window_days"] == 2 and "calls:window:2025-03-08" not in counters
    assert counters["calls:window:2025-03-07"] == 2


def test_weekdays_and_zone_of_the_window(tmp_path: Path):
    window = "Mon,Thu 06:00-08:00 Europe/Amsterdam"
    with served(tmp_path, plan="daily", window=window) as (sandbox, client):
        statuses = {}
        for label, moment in {
            "Mon 06:30 CET": datetime(2025, 3, 3, 5, 30),
            "Mon 08:00 CET": datetime(2025, 3, 3, 7, 0),
            "Tue 06:30 CET": datetime(2025, 3, 4, 5, 30),
            "Thu 06:30 CET": datetime(2025, 3, 6, 5, 30),
        }.items():
            sandbox.set_now(moment)
            statuses[label] = _call(client).status_code
    assert statuses == {
        "Mon 06:30 CET": 200,
        "Mon 08:00 CET": 429,
        "Tue 06:30 CET": 429,
        "Thu 06:30 CET": 200,
    }
    counters = sandbox.counters()
    assert (counters["calls:window:2025-03-03"], counters["calls:window:2025-03-06"]) == (1, 1)


def test_limits_can_be_switched_off(tmp_path: Path):
    config = {"plan": "weekly", "enforce_limits": False, "calls_per_window": 1}
    with served(tmp_path, **config) as (sandbox, client):
        sandbox.set_now(IN_WINDOW.replace(hour=12))
        token = client.post("/connect/token", data=CONNECT_FORM)
        outside = [_call(client).status_code for _ in range(2)]
        sandbox.set_now(IN_WINDOW)
        inside = [_call(client).status_code for _ in range(2)]
    assert token.status_code == 200 and outside == inside == [200, 200]
    counters = sandbox.counters()
    assert counters["calls:day:2025-03-03"] == 4 and counters["calls:window:2025-03-03"] == 2
    assert counters.get("throttled", 0) == 0
