"""The event store on a real SQLite file: one row per event (the whole body is the key), the
headers kept, concurrent deliveries committed together, a store of the first schema migrated."""

import json
import sqlite3
import threading
from pathlib import Path

from p2p_assets.lib.webhooks.payload import event_key
from p2p_assets.lib.webhooks.store import EventStore, StoredEvent

EVENT = {"event": "api_push_update", "requestId": "req-1", "data": {"trackingId": "trk-1"}}


def add(store: EventStore, body: dict, headers: dict | None = None) -> bool:
    return store.add(body["requestId"], body["event"], body, headers)


def test_events_sharing_a_request_id_are_both_kept_and_a_retry_is_stored_once(
    tmp_path: Path,
) -> None:
    store = EventStore(tmp_path / "events.sqlite3")
    failed = {**EVENT, "data": {"trackingId": "trk-1", "status": "failed", "source": "crm"}}
    assert [add(store, EVENT), add(store, failed), add(store, dict(reversed(EVENT.items())))] == [
        True, True, False,
    ]  # fmt: skip
    assert [(e[1], e[3]["data"]) for e in store.since(0)] == [
        ("req-1", EVENT["data"]), ("req-1", failed["data"]),
    ]  # fmt: skip
    assert store.last_seq() == 2


def test_events_after_gives_the_key_and_the_headers_of_the_first_delivery(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite3")
    add(store, EVENT, {"x-sync-id": "sync-9", "user-agent": "BossInsights"})
    add(store, EVENT, {"x-sync-id": "another"})  # a retry: not stored, its headers neither
    [stored] = store.events_after(0)
    assert stored == StoredEvent(
        seq=1, key=event_key(EVENT), request_id="req-1", event="api_push_update",
        received_at=stored.received_at, body=EVENT,
        headers={"x-sync-id": "sync-9", "user-agent": "BossInsights"},
    )  # fmt: skip
    assert store.events_after(1) == []


def test_concurrent_deliveries_are_each_stored_once(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite3")
    bodies = [{**EVENT, "requestId": f"req-{n % 150}"} for n in range(300)]  # each one twice
    answers: list[bool] = []
    lock = threading.Lock()

    def deliver(body: dict) -> None:
        stored = add(store, body)
        with lock:
            answers.append(stored)

    threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 150 + [True] * 150
    assert sorted(e[1] for e in store.since(0)) == sorted(f"req-{n}" for n in range(150))
    assert [e.seq for e in store.events_after(0)] == list(range(1, 151))


def test_a_commit_that_fails_is_reported_to_each_waiting_delivery_and_the_next_one_works(
    tmp_path: Path,
) -> None:
    store = EventStore(tmp_path / "events.sqlite3", busy_timeout=0.2)
    blocker = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock too long
    errors: list[Exception] = []

    def deliver(n: int) -> None:
        try:
            add(store, {**EVENT, "requestId": f"req-{n}"})
        except sqlite3.OperationalError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 5 and all("locked" in str(e) for e in errors)  # none acknowledged
    blocker.execute("ROLLBACK")
    blocker.close()
    assert add(store, EVENT) is True
    assert [e[1] for e in store.since(0)] == ["req-1"]


FIRST_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
)"""


def test_a_store_of_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(FIRST_SCHEMA)
    bodies = [{**EVENT, "requestId": f"req-{n}"} for n in range(1, 5)]
    for body in bodies:
        old.execute(
            "INSERT INTO events (request_id, event, received_at, body) VALUES (?, ?, ?, ?)",
            (body["requestId"], body["event"], "2024-03-28T10:00:00+00:00", json.dumps(body)),
        )
    old.execute("DELETE FROM events WHERE seq = 4")  # seq 4 was handed out: never again
    old.close()

    store = EventStore(path)
    assert [(e.seq, e.key, e.headers) for e in store.events_after(0)] == [
        (n, event_key(bodies[n - 1]), {}) for n in (1, 2, 3)
    ]
    assert store.since(0)[0] == (1, "req-1", "2024-03-28T10:00:00+00:00", bodies[0])
    assert add(store, bodies[0]) is False  # a retry of an event stored before the migration
    assert add(store, {**bodies[0], "message": "other content"}) is True  # same requestId
    assert store.last_seq() == 5
    assert EventStore(path).last_seq() == 5  # opening it again changes nothing
