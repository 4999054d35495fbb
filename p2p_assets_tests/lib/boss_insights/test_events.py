"""The Boss Insights webhook fold on a real DuckDB file: only an explicit success confirms, one
outcome per destination, order never matters, the layout is configuration, and an event that
cannot be read is kept with its problem without stopping the others."""

import itertools
import json

import pytest

from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.boss_insights.layout import WebhookLayout, parse
from p2p_assets.lib.writeback import outbox

TARGET = "boss_insights:vendor"
AT = "2026-11-22T10:00:00+00:00"


def _sent(con, journal, *keys: str) -> dict[str, str]:
    """Plan and send `keys` (each answered with sync id `s-<key>`): key -> tracking id."""
    payloads = {k: {"name": k} for k in keys}
    candidates = [outbox.Candidate(k, p, outbox.payload_hash(p)) for k, p in payloads.items()]
    outbox.plan(con, TARGET, candidates, create_only=True, journal=journal)
    tracking = {o.key: o.tracking_id for o in outbox.outgoing(con, TARGET)}
    for key, tracking_id in tracking.items():
        journal.claim(TARGET, key, tracking_id)
        journal.settle(TARGET, key, tracking_id, "sent", sync_id=f"s-{key}")
    outbox.record_journal(con, journal)
    return tracking


def _event(seq: int, data: dict | None = None, headers: dict | None = None, **top) -> tuple:
    body = {"event": "api_push_update", "requestId": f"r{seq}", "domain": "x", **top}
    if data is not None:
        body["data"] = data
    return events.StoredEvent(seq, f"r{seq}", AT, body, headers)


def _status(con) -> dict[str, tuple[str, str | None]]:
    rows = con.execute(
        "SELECT record_key, status, last_error FROM writeback.outbox WHERE target = ?", [TARGET]
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _problems(con) -> dict[int, str | None]:
    return dict(con.execute(f"SELECT seq, problem FROM {events.TABLE} ORDER BY seq").fetchall())


def test_only_an_explicit_success_confirms(con, journal):
    t = _sent(con, journal, "ok", "rejected", "false", "nested", "missing", "odd", "done")
    folded = events.fold(con, [
        _event(1, {"trackingId": t["ok"], "status": "success"}),
        _event(2, {"trackingId": t["rejected"], "status": "rejected"},
               message="QuickBooks refused the vendor"),
        _event(3, {"trackingId": t["false"], "success": False}),
        _event(4, {"trackingId": t["nested"], "result": {"success": False}}),
        _event(5, {"trackingId": t["missing"]}),
        _event(6, {"trackingId": t["odd"], "status": "partially_applied"}),
        _event(7, {"trackingId": t["done"], "status": "Completed", "success": True}),
    ])  # fmt: skip
    status = _status(con)
    assert {k: v[0] for k, v in status.items()} == {
        "ok": "confirmed",
        "rejected": "push_failed",
        "false": "push_failed",
        "nested": "unknown_outcome",  # no outcome where we look: never a confirmation
        "missing": "unknown_outcome",
        "odd": "unknown_outcome",
        "done": "confirmed",
    }
    assert status["rejected"][1] == "Boss Insights push failed: QuickBooks refused the vendor"
    assert "partially_applied" in status["odd"][1]
    assert (folded.confirmed, folded.failed, folded.unknown) == (2, 2, 3)
    problems = _problems(con)
    assert problems[4] == problems[5] == "no outcome at data.status or data.success"
    assert "'partially_applied' at data.status is not a configured" in problems[6]
    assert problems[1] is None


def test_the_layout_is_configuration_and_old_events_are_read_again_with_a_new_one(con, journal):
    t = _sent(con, journal, "nested", "top", "header")
    stored = [
        _event(1, {"trackingId": t["nested"], "result": {"success": False}}),
        _event(2, {"object": "vendor"}, trackingId=t["top"], syncId="s-top", status="success"),
        _event(3, {"state": "succeeded"}, headers={"x-boss-tracking": t["header"]}),
    ]
    events.fold(con, stored)
    assert {k: v[0] for k, v in _status(con).items()} == {
        "nested": "unknown_outcome", "top": "unknown_outcome", "header": "sent",
    }  # fmt: skip
    configured = WebhookLayout(
        tracking_id=("data.trackingId", "trackingId", "header:X-Boss-Tracking"),
        outcome=("data.result.success", "status", "data.state"),
    )
    events.fold(con, [], configured)  # nothing new: the stored events are read again
    assert {k: v[0] for k, v in _status(con).items()} == {
        "nested": "push_failed", "top": "confirmed", "header": "confirmed",
    }  # fmt: skip
    assert events.reread(con, configured) == 0  # once per layout
    assert con.execute(f"SELECT tracking_id FROM {events.TABLE} WHERE seq = 3").fetchone() == (
        t["header"],
    )


def test_one_outcome_per_destination_in_a_list(con, journal):
    t = _sent(con, journal, "one_failed", "all_ok", "bad_list", "bad_item")
    events.fold(con, [
        _event(1, {"trackingId": t["one_failed"], "status": "completed", "results": [
            {"source": "quickbooks", "status": "success"},
            {"source": "hubspot", "status": "failed", "message": "hubspot refused it"}]}),
        _event(2, {"trackingId": t["all_ok"], "status": "completed", "results": [
            {"source": "quickbooks", "status": "success"},
            {"source": "hubspot", "success": True}]}),
        _event(3, {"trackingId": t["bad_list"], "results": {"quickbooks": "success"}}),
        _event(4, {"trackingId": t["bad_item"], "results": [{"source": "qb", "status": "success"},
                                                            "hubspot: ok"]}),
    ])  # fmt: skip
    status = _status(con)
    assert status["one_failed"] == ("push_failed", "Boss Insights push failed: hubspot: hubspot "
                                    "refused it")  # fmt: skip
    assert status["all_ok"][0] == "confirmed"
    assert status["bad_list"][0] == status["bad_item"][0] == "unknown_outcome"
    problems = _problems(con)
    assert problems[3] == "data.results is dict, not a list"
    assert problems[4] == "data.results.1 is str, not an object"
    rows = con.execute(
        f"SELECT destination, outcome FROM {events.OUTCOMES} WHERE seq = 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("hubspot", "failed"), ("quickbooks", "success")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_one_event_per_destination_in_any_order_one_failure_is_never_hidden(con, journal, order):
    t = _sent(con, journal, "a")
    stored = [
        _event(1, {"trackingId": t["a"], "source": "quickbooks", "status": "success"}),
        _event(2, {"trackingId": t["a"], "source": "hubspot", "status": "failed",
                   "message": "no such customer"}),
        _event(3, {"trackingId": t["a"], "source": "hubspot", "status": "success"}),
    ]  # fmt: skip
    for seq, index in enumerate(order, start=1):  # each arrives, and is folded, on its own
        events.fold(con, [stored[index]._replace(seq=seq)])
    assert _status(con)["a"] == ("push_failed", "Boss Insights push failed: hubspot: no such "
                                 "customer")  # fmt: skip


def test_configured_destinations_must_each_report_success(con, journal):
    t = _sent(con, journal, "a")
    layout = WebhookLayout(destinations=("QuickBooks", "HubSpot"))
    events.fold(con, [_event(1, {"trackingId": t["a"], "source": "quickbooks",
                                 "status": "success"})], layout)  # fmt: skip
    assert _status(con)["a"][0] == "sent"  # hubspot has not said yet
    events.fold(con, [_event(2, {"trackingId": t["a"], "source": "hubspot",
                                 "status": "pending"})], layout)  # fmt: skip
    assert _status(con)["a"][0] == "sent"  # pending settles nothing
    events.fold(con, [_event(3, {"trackingId": t["a"], "source": "hubspot",
                                 "status": "succeeded"})], layout)  # fmt: skip
    assert _status(con)["a"][0] == "confirmed"


def test_a_failure_after_a_confirmation_undoes_it(con, journal):
    t = _sent(con, journal, "a")
    events.fold(con, [_event(1, {"trackingId": t["a"], "source": "quickbooks",
                                 "status": "success"})])  # fmt: skip
    assert _status(con)["a"][0] == "confirmed"
    events.fold(con, [_event(2, {"trackingId": t["a"], "source": "hubspot",
                                 "status": "error", "message": "down"})])  # fmt: skip
    assert _status(con)["a"] == ("push_failed", "Boss Insights push failed: hubspot: down")
    confirmed_at = con.execute("SELECT confirmed_at FROM writeback.outbox").fetchone()[0]
    assert confirmed_at is None


def test_a_sync_id_alone_settles_a_sent_record_never_a_re_planned_one(con, journal):
    _sent(con, journal, "a", "b")
    events.fold(con, [_event(1, {"syncId": "s-a", "status": "success"})])
    assert _status(con)["a"][0] == "confirmed"
    # b is re-planned (pending, a new tracking id, still the old sync id): an event naming only
    # that old sync id is not about the new attempt.
    con.execute("UPDATE writeback.outbox SET status = 'pending', tracking_id = 'new' "
                "WHERE record_key = 'b'")  # fmt: skip
    events.fold(con, [_event(2, {"syncId": "s-b", "status": "success"})])
    assert _status(con)["b"][0] == "pending"


def test_malformed_events_are_kept_with_their_problem_and_never_block_the_others(con, journal):
    t = _sent(con, journal, "before", "with_surrogate", "after")
    batch = [
        _event(1, {"trackingId": t["before"], "status": "success"}),
        _event(2, {"trackingId": t["with_surrogate"], "status": "success"}, message="bad \ud800"),
        _event(3, {"trackingId": {"id": t["after"]}, "status": "success"}),  # wrong type
        _event(4, {"status": "success"}),  # no ids
        events.StoredEvent(5, "r5", AT, ["not", "an", "object"]),
        events.StoredEvent(6, "r6", "yesterday", {"event": "x", "requestId": "r6"}),  # bad time
        _event(7, {"trackingId": 7, "syncId": ["s"], "status": None}),
    ]
    folded = events.fold(con, batch)
    assert folded.events == 7
    problems = _problems(con)
    assert problems[1] is None
    assert problems[2] == "lone surrogates (not text) replaced with U+FFFD"
    assert problems[3].startswith("tracking id at data.trackingId is dict, not text")
    assert "no tracking id" in problems[4]
    assert problems[5] == "the body is list, not a JSON object"
    assert problems[6].startswith("quarantined, not folded: Conversion Error")
    assert "sync id at data.syncId is list" in problems[7]
    assert _status(con)["before"][0] == _status(con)["with_surrogate"][0] == "confirmed"
    message = con.execute(f"SELECT message FROM {events.TABLE} WHERE seq = 2").fetchone()[0]
    assert message == "bad \ufffd"
    # Later events still fold and confirm, and nothing is folded twice.
    again = events.fold(con, [*batch, _event(8, {"trackingId": t["after"], "status": "success"})])
    assert again.events == 1 and _status(con)["after"][0] == "confirmed"
    assert events.last_folded(con) == 8


def test_an_installation_of_the_first_schema_keeps_its_events_and_reads_them_again(con, journal):
    t = _sent(con, journal, "a")
    con.execute("CREATE SCHEMA boss_insights")
    con.execute(events.DDL[0])  # the first schema: no problem or headers column
    con.execute(
        f"INSERT INTO {events.TABLE} VALUES (1, 'r1', 'api_push_update', ?, NULL, NULL, NULL, ?, "
        "NULL, 'success', ?, ?)",
        [AT, t["a"], json.dumps({"data": {"trackingId": t["a"], "status": "rejected"}}), AT],
    )
    con.execute("UPDATE writeback.outbox SET status = 'confirmed'")  # what the first fold did
    events.fold(con, [])
    assert _status(con)["a"][0] == "push_failed"  # the false confirmation is corrected
    assert events.last_folded(con) == 1


def test_parse_reports_what_it_cannot_read():
    layout = WebhookLayout()
    parsed = parse({"data": {"trackingId": "t", "status": ["success"]}}, None, layout)
    assert parsed.outcome == "unknown"
    assert parsed.problems == ["outcome at data.status is list, not a value"]
    assert parse({"data": {"trackingId": True}}, None, layout).tracking_id is None
    with pytest.raises(ValueError, match="more than one"):
        WebhookLayout(success_values=frozenset({"done"}), failure_values=frozenset({"done"}))
