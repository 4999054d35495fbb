"""Sending several records at once: the journal's guarantees hold with a pool of workers."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from p2p_assets.lib.writeback import outbox
from p2p_assets.lib.writeback.journal import Journal, journal_path
from p2p_assets.lib.writeback.sending import ConcurrencyError, concurrency_from

TARGET = "workspace365:Invoice exceptions"


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(journal_path(tmp_path / "w.duckdb")) as opened:
        yield opened


def _queue(n: int) -> list[outbox.Outgoing]:
    return [outbox.Outgoing(f"r{i:03}", {"n": i}, f"t{i:03}") for i in range(n)]


def _committed(path: Path) -> list[tuple[str, str]]:
    """The journal as another process sees it: only what is committed."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT record_key, status FROM entries ORDER BY seq").fetchall()


class Vendor:
    """A send function that takes `seconds` per call and counts the calls in flight."""

    def __init__(self, journal: Journal, seconds: float = 0.02):
        self.journal, self.seconds = journal, seconds
        self.lock = threading.Lock()
        self.in_flight = self.most = 0
        self.calls: list[str] = []
        self.unclaimed: list[str] = []

    def __call__(self, item: outbox.Outgoing) -> outbox.Outcome:
        if (item.key, "sending") not in _committed(self.journal.path):
            self.unclaimed.append(item.key)
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.calls.append(item.key)
        time.sleep(self.seconds)
        with self.lock:
            self.in_flight -= 1
        return outbox.Outcome("sent", remote_id=item.key.upper())


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_every_record_is_claimed_before_its_call_and_settled_after(journal, concurrency):
    vendor = Vendor(journal)
    queue = _queue(40)
    assert outbox.send_pending(journal, TARGET, queue, vendor, concurrency=concurrency) == 40
    assert vendor.unclaimed == []
    assert sorted(vendor.calls) == [i.key for i in queue]  # each once
    assert 1 <= vendor.most <= concurrency
    if concurrency > 1:
        assert vendor.most > 1  # really at once
    entries = journal.entries()
    claims = [e["record_key"] for e in entries if e["status"] == "sending"]
    assert claims == [i.key for i in queue]  # claimed in queue order
    assert sorted(e["record_key"] for e in entries if e["status"] == "sent") == claims


def test_one_at_a_time_is_claim_call_outcome_then_the_next(journal):
    outbox.send_pending(journal, TARGET, _queue(3), Vendor(journal, 0), concurrency=1)
    assert [(e["record_key"], e["status"]) for e in journal.entries()] == [
        ("r000", "sending"), ("r000", "sent"), ("r001", "sending"), ("r001", "sent"),
        ("r002", "sending"), ("r002", "sent"),
    ]  # fmt: skip


def test_a_stop_claims_nothing_more_and_every_call_made_is_journalled(journal):
    started = threading.Barrier(4)
    calls: list[str] = []

    def send(item: outbox.Outgoing) -> outbox.Outcome:
        calls.append(item.key)
        if len(calls) <= 4:
            started.wait(timeout=10)  # four calls in flight together
        if item.key == "r001":
            raise outbox.StopSending("the app is disabled", status="pending")
        time.sleep(0.05)  # the others answer after the stop
        return outbox.Outcome("sent")

    with pytest.raises(outbox.StopSending, match="the app is disabled"):
        outbox.send_pending(journal, TARGET, _queue(50), send, concurrency=4)
    assert sorted(calls) == ["r000", "r001", "r002", "r003"]  # nothing sent after the stop
    last = {e["record_key"]: e["status"] for e in journal.entries()}
    assert last == {"r000": "sent", "r001": "pending", "r002": "sent", "r003": "sent"}


def test_an_unexpected_error_leaves_its_claim_without_an_outcome(journal):
    def send(item: outbox.Outgoing) -> outbox.Outcome:
        if item.key == "r002":
            raise RuntimeError("a bug")
        return outbox.Outcome("sent")

    with pytest.raises(RuntimeError, match="a bug"):
        outbox.send_pending(journal, TARGET, _queue(10), send, concurrency=1)
    statuses = [(e["record_key"], e["status"]) for e in journal.entries()]
    assert statuses[-1] == ("r002", "sending")  # uncertain for the next plan
    assert ("r003", "sending") not in statuses


def test_a_stop_by_default_fails_the_record_in_hand(journal):
    def send(item: outbox.Outgoing) -> outbox.Outcome:
        raise outbox.StopSending("HTTP 401")

    with pytest.raises(outbox.StopSending):
        outbox.send_pending(journal, TARGET, _queue(3), send, concurrency=1)
    assert [e["status"] for e in journal.entries()] == ["sending", "failed"]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 4), ("", 4), (" 8 ", 8), ("1", 1), (32, 32)]
)
def test_the_concurrency_setting(value, expected):
    assert concurrency_from("WORKSPACE365_CONCURRENCY", value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "33", "four", "2.5"])
def test_a_wrong_concurrency_names_the_variable(value):
    with pytest.raises(ConcurrencyError, match=r"WORKSPACE365_CONCURRENCY must be a whole number"):
        concurrency_from("WORKSPACE365_CONCURRENCY", value)


def test_claims_from_many_threads_are_whole_transactions(journal):
    def claim(n: int) -> None:
        for i in range(50):
            journal.claim_many(TARGET, [(f"k{n}-{i}", f"t{n}-{i}"), (f"k{n}-{i}b", f"t{n}-{i}b")])
            journal.settle(TARGET, f"k{n}-{i}", f"t{n}-{i}", "sent")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_committed(journal.path)) == 6 * 50 * 3
