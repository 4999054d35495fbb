"""The outbox, its send journal and the Boss Insights webhook fold, on a real DuckDB file."""

import pytest

from p2p_assets.lib.boss_insights import events
from p2p_assets.lib.warehouse.connection import transaction
from p2p_assets.lib.writeback import outbox
from p2p_assets.lib.writeback.journal import (
    LeaseHeldError,
    StalePlanError,
)

TARGET = "boss_insights:vendor"


def _candidates(**payloads: dict) -> list[outbox.Candidate]:
    return [outbox.Candidate(k, p, outbox.payload_hash(p)) for k, p in payloads.items()]


def _rows(con) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT record_key, status, attempts, tracking_id, sync_id, last_error "
            "FROM writeback.outbox WHERE target = ?",
            [TARGET],
        ).fetchall()
    }


def _plan(con, journal, create_only=False, **payloads):
    outbox.plan(con, TARGET, _candidates(**payloads), create_only=create_only, journal=journal)
    return {o.key: o for o in outbox.outgoing(con, TARGET)}


def test_a_claim_without_an_outcome_becomes_uncertain_and_is_not_sent_again(con, journal):
    queue = _plan(con, journal, a={"n": 1}, b={"n": 2})
    assert set(queue) == {"a", "b"}
    journal.claim(TARGET, "a", queue["a"].tracking_id)
    journal.settle(TARGET, "a", queue["a"].tracking_id, "sent", sync_id="s-a")
    journal.claim(TARGET, "b", queue["b"].tracking_id)  # ... and the process died here
    assert _plan(con, journal, a={"n": 1}, b={"n": 2}) == {}
    rows = _rows(con)
    assert rows["a"][:2] == ("sent", 1) and rows["a"][3] == "s-a"
    assert rows["b"][:2] == ("uncertain", 1)
    assert "stopped before recording the answer" in rows["b"][4]
    assert journal.entries() == []  # applied, then forgotten


def test_the_journal_is_applied_exactly_once(con, journal):
    queue = _plan(con, journal, a={"n": 1})
    journal.claim(TARGET, "a", queue["a"].tracking_id)
    journal.settle(TARGET, "a", queue["a"].tracking_id, "sent")
    with transaction(con):
        journal.apply(con, outbox.TABLE)
    # A crash before `forget_applied`: the entries are still there, applying again changes nothing.
    assert len(journal.entries()) == 2
    assert outbox.record_journal(con, journal) == 0
    assert _rows(con)["a"][:2] == ("sent", 1)
    assert journal.entries() == []


def test_failed_records_are_retried_under_a_new_tracking_id(con, journal):
    queue = _plan(con, journal, a={"n": 1})
    first = queue["a"].tracking_id
    journal.claim(TARGET, "a", first)
    journal.settle(TARGET, "a", first, "failed", error="HTTP 503")
    outbox.record_journal(con, journal)
    retry = _plan(con, journal, a={"n": 1})
    assert set(retry) == {"a"} and retry["a"].tracking_id != first


def test_changed_records_are_requeued_unless_the_target_is_create_only(con, journal):
    queue = _plan(con, journal, a={"n": 1})
    journal.claim(TARGET, "a", queue["a"].tracking_id)
    journal.settle(TARGET, "a", queue["a"].tracking_id, "sent")
    outbox.record_journal(con, journal)
    assert _plan(con, journal, create_only=True, a={"n": 2}) == {}
    assert outbox.summary(con, TARGET)["changed_since_sent"] == 1
    assert set(_plan(con, journal, a={"n": 3})) == {"a"}


def test_webhooks_confirm_by_tracking_id_and_a_later_answer_never_undoes_it(con, journal):
    queue = _plan(con, journal, a={"n": 1}, b={"n": 2}, c={"n": 3})
    for key in "abc":
        journal.claim(TARGET, key, queue[key].tracking_id)
    journal.settle(TARGET, "a", queue["a"].tracking_id, "sent", sync_id="s-a")
    # The webhooks arrive while the run is still sending (its journal not applied yet).
    stored = [
        (1, "r1", "2026-11-22T10:00:00+00:00", {"event": "api_push_update", "requestId": "r1",
         "data": {"trackingId": queue["a"].tracking_id, "syncId": "s-a", "status": "success"}}),
        (2, "r2", "2026-11-22T10:00:01+00:00", {"event": "api_push_update", "requestId": "r2",
         "message": "QuickBooks refused it", "data": {"trackingId": queue["b"].tracking_id,
                                                      "status": "failed"}}),
        (3, "r3", "2026-11-22T10:00:02+00:00", {"event": "document_conversion_complete",
         "requestId": "r3", "data": {"docId": 59}}),
    ]  # fmt: skip
    folded = events.fold(con, stored)
    assert (folded.events, folded.confirmed, folded.failed) == (3, 1, 1)
    assert events.fold(con, stored).events == 0  # folding twice adds nothing
    journal.settle(TARGET, "b", queue["b"].tracking_id, "sent")
    journal.settle(TARGET, "c", queue["c"].tracking_id, "uncertain", error="no answer")
    outbox.record_journal(con, journal)
    events.reconcile(con)
    rows = _rows(con)
    assert rows["a"][0] == "confirmed"
    assert rows["b"][0] == "push_failed" and "QuickBooks refused it" in rows["b"][4]
    assert rows["c"][0] == "uncertain"  # no webhook names it: a person decides
    assert con.execute(f"SELECT outcome FROM {events.TABLE} ORDER BY seq").fetchall() == [
        ("success",),
        ("failed",),
        (None,),
    ]


def test_one_run_per_target_from_its_plan_to_its_record(journal):
    running = {"run-a", "run-b"}

    def ended(run_id: str) -> bool:
        return run_id not in running

    journal.take_lease(TARGET, "run-a", ended=ended)
    journal.take_lease(TARGET, "run-a", ended=ended)  # a retried plan of the same run
    with pytest.raises(LeaseHeldError, match="run run-a planned it at .* nothing was planned"):
        journal.take_lease(TARGET, "run-b", ended=ended)
    journal.take_lease("workspace365:Invoice exceptions", "run-b", ended=ended)  # another target
    journal.keep_lease(TARGET, "run-a", "run-a", ended=ended)
    journal.give_back_lease(TARGET, "run-a")
    journal.take_lease(TARGET, "run-b", ended=ended)
    journal.give_back_lease(TARGET, "run-a")  # not its lease any more: nothing happens
    with pytest.raises(LeaseHeldError):
        journal.take_lease(TARGET, "run-a", ended=ended)


def test_a_lease_whose_run_ended_is_taken_over(journal):
    journal.take_lease(TARGET, "killed", ended=lambda run_id: False)
    journal.take_lease(TARGET, "next", ended=lambda run_id: run_id == "killed")
    with pytest.raises(StalePlanError, match="run next holds it now"):
        journal.keep_lease(TARGET, "killed", "killed", ended=lambda run_id: False)


def test_a_re_executed_send_goes_on_only_while_its_plan_is_the_current_one(journal):
    def ended(run_id: str) -> bool:
        return run_id == "planned"

    journal.take_lease(TARGET, "planned", ended=ended)
    journal.keep_lease(TARGET, "re-executed", "planned", ended=ended)  # takes it over
    journal.keep_lease(TARGET, "re-executed", "planned", ended=ended)
    with pytest.raises(StalePlanError):  # the plan's run is the one holding it no more
        journal.keep_lease(TARGET, "again", "planned", ended=lambda run_id: True)
    journal.give_back_lease(TARGET, "re-executed")
    with pytest.raises(StalePlanError, match="another run planned and recorded since"):
        journal.keep_lease(TARGET, "again", "planned", ended=ended)
