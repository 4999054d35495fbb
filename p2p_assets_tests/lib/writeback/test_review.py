"""Re-queueing by a person (`review.requeue`) on a real DuckDB outbox, and the next plan."""

import pytest

from p2p_assets.lib.writeback import outbox, review

TARGET = "workspace365:Invoice exceptions"


def _plan(con, journal, **candidates: dict | None) -> dict[str, outbox.Outgoing]:
    """`key={"n": 1}` a valid record, `key=None` one our validation refuses."""
    outbox.plan(
        con,
        TARGET,
        [
            outbox.Candidate(
                k,
                {"k": k},
                outbox.payload_hash({"k": k}),
                {} if p is not None else {"Amount": "is required"},
            )
            for k, p in candidates.items()
        ],  # fmt: skip
        create_only=True,
        journal=journal,
    )
    return {o.key: o for o in outbox.outgoing(con, TARGET)}


def _send(journal, con, queue, **outcomes: str) -> None:
    for key, status in outcomes.items():
        journal.claim(TARGET, key, queue[key].tracking_id)
        journal.settle(TARGET, key, queue[key].tracking_id, status, error=f"{key} {status}")
    outbox.record_journal(con, journal)


def test_requeued_records_are_pending_under_a_new_tracking_id_with_their_attempts(con, journal):
    queue = _plan(con, journal, a={}, b={}, c={})
    _send(journal, con, queue, a="uncertain", b="uncertain", c="sent")
    assert review.requeue(con, TARGET, "uncertain", ["b", "x"], by="alice") == ["b"]
    (row,) = review.rows(con, TARGET, ("pending",))
    assert (row.key, row.attempts) == ("b", 1)
    assert row.last_error.startswith("re-queued by alice on ")
    assert row.last_error.endswith("from uncertain; it was: b uncertain")
    again = _plan(con, journal, a={}, b={}, c={})
    assert set(again) == {"b"} and again["b"].tracking_id != queue["b"].tracking_id
    assert review.requeue(con, TARGET, "uncertain", None, by="bob") == ["a"]
    assert review.counts(con, TARGET) == {"pending": 2, "sent": 1}


def test_a_requeued_record_our_validation_still_refuses_is_rejected_again(con, journal):
    assert _plan(con, journal, a=None) == {}
    assert review.requeue(con, TARGET, "rejected", None, by="alice") == ["a"]
    assert _plan(con, journal, a=None) == {}  # not sent
    (row,) = review.rows(con, TARGET, ("rejected",))
    assert row.field_errors == {"Amount": "is required"} and "re-queued by alice" in row.last_error


def test_only_records_nobody_sends_again_can_be_requeued(con, journal):
    _plan(con, journal, a={})
    for status in ("pending", "sending", "sent", "confirmed"):
        with pytest.raises(ValueError, match="only rejected, uncertain, failed"):
            review.requeue(con, TARGET, status, None, by="alice")
    assert review.targets(con) == [TARGET]
    assert "rejected" in review.attention() and "sent" not in review.attention()


def test_the_table_wraps_long_reasons_within_their_column(con, journal):
    queue = _plan(con, journal, a={})
    long = "Workspace 365 POST /p2p/BusinessAppApi/Invoice%20exceptions: HTTP 503 " * 3
    journal.claim(TARGET, "a", queue["a"].tracking_id)
    journal.settle(TARGET, "a", queue["a"].tracking_id, "rejected", error=long,
                   field_errors={"Amount": "Currency 'XAF' is not supported"})  # fmt: skip
    outbox.record_journal(con, journal)
    text = review.render(review.rows(con, TARGET, ("rejected",)))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["key", "status", "attempts"]
    assert len(lines) > 3 and all(len(line) < 200 for line in lines)
    assert lines[2].split()[:3] == ["a", "rejected", "1"]
    assert "Amount: Currency 'XAF' is not supported" in text
