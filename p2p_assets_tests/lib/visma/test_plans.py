"""Visma's plans on this side: the window, the poll schedule, the usage ledger and the
concurrency slots shared by processes."""

import multiprocessing
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.visma import VismaQuotaError
from p2p_assets.lib.visma.plans import PLANS, WindowError, parse_window, poll_due
from p2p_assets.lib.visma.usage import (
    ConcurrencySlots,
    UsageLedger,
    UsageTransport,
    VismaConcurrencyError,
)
from p2p_assets_tests.clocks import MovableClock
from p2p_assets_tests.lib.visma.fakes import FakeVisma, make_auth, make_client

WEEKLY, DAILY, CONTINUOUS = PLANS["weekly"], PLANS["daily"], PLANS["continuous"]


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_windows_parse_with_days_and_zone_and_refuse_what_visma_would_not_allow() -> None:
    window = parse_window("Mon,Thu 06:00-08:00 Europe/Amsterdam", WEEKLY)
    assert window.days == {0, 3} and window.zone == ZoneInfo("Europe/Amsterdam")
    assert window.describe() == "Mon,Thu 06:00-08:00 Europe/Amsterdam"
    assert parse_window("06:00-08:00 UTC", WEEKLY).days == {0}  # weekly: Mondays by default
    assert parse_window("06:00-08:00 UTC", DAILY).days == set(range(7))
    assert parse_window("Mon-Fri 15:00-17:00 UTC", DAILY).days == {0, 1, 2, 3, 4}
    assert parse_window("saturday-Mon 15:00-17:00 UTC", DAILY).days == {5, 6, 0}
    for bad in (
        "Monxyz 06:00-08:00 UTC",
        "Mon-Fry 06:00-08:00 UTC",
        "06:00-09:00 UTC",
        "6-8",
        "Xyz 06:00-08:00",
        "06:00-08:00 Mars/Base",
        "08:00-08:00",
    ):
        with pytest.raises(WindowError, match="VISMA_WINDOW"):
            parse_window(bad, DAILY)


def test_the_window_edges_and_a_window_across_midnight() -> None:
    window = parse_window("06:00-08:00 UTC", DAILY)
    assert window.current(at("2026-12-01T05:59:59")) is None
    assert window.key(at("2026-12-01T06:00:00")) == "2026-12-01"
    assert window.key(at("2026-12-01T07:59:59")) == "2026-12-01"
    assert window.current(at("2026-12-01T08:00:00")) is None
    assert window.next_opening(at("2026-12-01T08:00:00")) == datetime(2026, 12, 2, 6, tzinfo=UTC)
    night = parse_window("23:30-01:00 UTC", DAILY)
    assert night.key(at("2026-12-02T00:30:00")) == "2026-12-01"
    # Amsterdam's 06:00 is 05:00 UTC in winter.
    amsterdam = parse_window("06:00-08:00 Europe/Amsterdam", DAILY)
    assert amsterdam.key(at("2026-12-01T05:00:00")) == "2026-12-01"


def test_the_sensor_polls_only_inside_the_window_at_its_opening_then_every_interval() -> None:
    window = parse_window("06:00-08:00 UTC", DAILY)
    due = lambda last, now: poll_due(DAILY, window, last, at(now), 1800)  # noqa: E731
    outside = due(None, "2026-12-01T05:59:00")
    assert not outside.due and "next window opens Tue 2026-12-01 06:00" in outside.reason
    assert due(at("2026-11-30T07:30:00"), "2026-12-01T06:00:30").due  # a new window
    assert not due(at("2026-12-01T06:00:30"), "2026-12-01T06:20:00").due
    assert due(at("2026-12-01T06:00:30"), "2026-12-01T06:31:00").due
    assert poll_due(CONTINUOUS, None, at("2026-12-01T06:00:00"), at("2026-12-01T06:04:00"),
                    300).due is False  # fmt: skip
    assert poll_due(CONTINUOUS, None, None, at("2026-12-01T03:00:00"), 300).due


def test_the_ledger_refuses_calls_outside_the_window_and_beyond_its_caps(tmp_path: Path) -> None:
    window = parse_window("06:00-08:00 UTC", DAILY)
    plan = replace(DAILY, calls_per_window=3, window_days_per_month=2)
    ledger = UsageLedger(tmp_path / "usage.json", plan, window)
    clock = MovableClock(at("2026-12-01T05:59:59"))
    with clocks.using(clock):
        with pytest.raises(VismaQuotaError, match="outside the call window 06:00-08:00 UTC"):
            ledger.spend_call()
        clock.now = at("2026-12-01T06:00:00")
        for _ in range(3):
            ledger.spend_call()
        with pytest.raises(VismaQuotaError, match="window's 3 calls are used"):
            ledger.spend_call()
        clock.now = at("2026-12-02T06:10:00")
        ledger.spend_call()  # a second window day
        clock.now = at("2026-12-03T06:10:00")
        with pytest.raises(VismaQuotaError, match="month's 2 window days are used"):
            ledger.spend_call()
        assert ledger.usage() == {"calls_this_window": 0, "calls_today": 0,
                                  "window_days_this_month": 2, "tokens_this_month": 0}  # fmt: skip
        clock.now = at("2027-01-01T06:10:00")
        ledger.spend_call()  # a new month


def test_continuous_calls_stop_at_the_days_cap(tmp_path: Path) -> None:
    ledger = UsageLedger(tmp_path / "usage.json", replace(CONTINUOUS, calls_per_day=2), None)
    with clocks.using(MovableClock(at("2026-12-01T23:00:00"))) as clock:
        ledger.spend_call()
        ledger.spend_call()
        with pytest.raises(VismaQuotaError, match="today's 2 calls"):
            ledger.spend_call()
        clock.now = at("2026-12-02T00:00:01")  # type: ignore[attr-defined]
        ledger.spend_call()


def test_a_window_gets_one_token_unless_the_month_has_tokens_to_spare(tmp_path: Path) -> None:
    window = parse_window("Mon 06:00-08:00 UTC", WEEKLY)  # December 2026: 4 Mondays
    ledger = UsageLedger(tmp_path / "usage.json", WEEKLY, window)
    with clocks.using(MovableClock(at("2026-12-07T06:00:00"))) as clock:
        ledger.check_token()
        ledger.spend_token()  # 6 left, 3 Mondays ahead: a second token in this window is fine
        ledger.check_token()
        for _ in range(3):
            ledger.spend_token()  # 3 left for the 3 Mondays ahead: no more in this window
        with pytest.raises(VismaQuotaError, match="needed for its 3 remaining windows"):
            ledger.check_token()
        clock.now = at("2026-12-08T06:00:00")  # type: ignore[attr-defined]
        with pytest.raises(VismaQuotaError, match="outside the call window"):
            ledger.check_token()


def test_the_client_never_sends_a_call_the_ledger_refuses(tmp_path: Path) -> None:
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", lambda _: httpx.Response(200, json={"status": "Healthy"}))
    window = parse_window("06:00-08:00 UTC", DAILY)
    ledger = UsageLedger(tmp_path / "usage.json", DAILY, window)
    with clocks.using(MovableClock(at("2026-12-01T09:00:00"))):
        client = make_client(fake, make_auth(usage=ledger), usage=ledger)
        with (
            client,
            pytest.raises(VismaQuotaError, match="outside the call window 06:00-08:00 UTC"),
        ):
            client.heartbeat()
    assert fake.api_requests() == [] and fake.token_requests == 0


def _hold_slot(directory: str, seconds: float, ready: "multiprocessing.Event") -> None:  # type: ignore[name-defined]
    slots = ConcurrencySlots(directory, 1)
    fd = slots.acquire()
    ready.set()
    time.sleep(seconds)
    ConcurrencySlots.release(fd)


def test_concurrency_slots_are_shared_by_processes_and_freed_by_a_dead_one(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_slot, args=(str(tmp_path), 60, ready))
    holder.start()
    assert ready.wait(30)
    with pytest.raises(VismaConcurrencyError, match="1 concurrent call"):
        ConcurrencySlots(tmp_path, 1, wait_seconds=0.3).acquire()
    holder.kill()  # a killed process frees its slot with its file descriptors
    holder.join()
    fd = ConcurrencySlots(tmp_path, 1, wait_seconds=5).acquire()
    ConcurrencySlots.release(fd)


def test_a_streamed_answer_holds_its_slot_until_its_body_is_closed(tmp_path: Path) -> None:
    api = "https://fileapi.visma.test/v1.0"
    # A body that arrives as it is read, as from the network (not one already in memory).
    network = httpx.MockTransport(
        lambda _: httpx.Response(200, stream=httpx.ByteStream(b"x" * 1000))
    )
    slots = ConcurrencySlots(tmp_path / "slots", 1, wait_seconds=0.2)
    ledger = UsageLedger(tmp_path / "usage.json", CONTINUOUS, None)
    with httpx.Client(transport=UsageTransport(network, api, ledger, slots)) as http:
        with http.stream("GET", f"{api}/files/a") as download:
            with pytest.raises(VismaConcurrencyError):
                slots.acquire()  # the download still holds the plan's only slot
            assert download.read() == b"x" * 1000
        ConcurrencySlots.release(slots.acquire())  # closed: free again
        http.get("https://connect.visma.test/connect/token")  # not an API call: not counted
        memory = httpx.MockTransport(lambda _: httpx.Response(200, content=b"read already"))
        with httpx.Client(transport=UsageTransport(memory, api, ledger, slots)) as other:
            assert other.get(f"{api}/heartbeat").content == b"read already"
        ConcurrencySlots.release(slots.acquire())  # an answer read in memory frees its slot
    assert ledger.usage()["calls_today"] == 2
