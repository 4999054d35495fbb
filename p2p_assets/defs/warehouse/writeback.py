"""What every write-back asset shares: its three steps, what it shows about `writeback.outbox`
(counts per status as materialisation metadata), and the asset check that fails when records
were rejected.

A write-back asset is a graph of three ops, so the vendor calls never hold the warehouse's slot
and every warehouse write is in pool `duckdb`:
- plan (pool `duckdb`): read the target's export view (`exports.py`), plan the outbox, take the
  target's lease (`plan_outbox`);
- send (the vendor's pool): the send journal and the vendor only, never DuckDB (`send_queue`); a
  stop is returned, not raised, so that the record still runs;
- record (pool `duckdb`): apply the journal to the outbox, give the lease back, and only then fail
  the run when sending stopped (`record_sent`).
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import dagster as dg
import duckdb

from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import table_columns, transaction
from p2p_assets.lib.writeback import outbox
from p2p_assets.lib.writeback.journal import Journal, LeaseHeldError, StalePlanError

READS = ("basware",)
"""The vendors whose data the write-back targets send on."""
Client = TypeVar("Client")


@dataclass(frozen=True)
class Planned:
    """What a plan step hands its send and record steps."""

    run_id: str  # the run whose plan this is (a re-executed send reuses it)
    queue: list[outbox.Outgoing]
    metadata: dict[str, Any]  # shown on the materialisation with the outbox counts


@dataclass(frozen=True)
class Sent:
    """How a send step ended: the records the vendor accepted, and why it stopped, if it did."""

    accepted: int | None  # None when it stopped (the outbox counts tell)
    stopped: str | None = None


def _ended(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    def ended(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is None or run.is_finished

    return ended


def plan_outbox(
    context: dg.OpExecutionContext,
    con: duckdb.DuckDBPyConnection,
    journal: Journal,
    target: str,
    source: sources.Source,
    candidates: Sequence[outbox.Candidate],
    *,
    create_only: bool,
    update_needs_remote_id: bool = False,
) -> list[outbox.Outgoing]:
    """The plan step's work in the warehouse: check the target, take its lease, plan; returns
    the records to send."""
    claim_target(con, source)
    try:
        journal.take_lease(target, context.run_id, ended=_ended(context.instance))
    except LeaseHeldError as exc:
        raise dg.Failure(description=str(exc)) from exc
    outbox.plan(con, target, candidates, create_only=create_only, journal=journal,
                update_needs_remote_id=update_needs_remote_id)  # fmt: skip
    return outbox.outgoing(con, target)


def send_queue(
    context: dg.OpExecutionContext,
    journal: Journal,
    target: str,
    planned: Planned,
    client: Callable[[], AbstractContextManager[Client]],
    send: Callable[[Client, outbox.Outgoing], outbox.Outcome],
    *,
    concurrency: int = 1,
) -> Sent:
    """The send step's work: each queued record claimed in the journal, sent with `send` (up to
    `concurrency` at once, one client shared by the threads), its outcome journalled. Whatever
    stops it is returned as `Sent.stopped`, never raised, so the record step records what was
    sent before the run fails."""
    try:
        journal.keep_lease(target, context.run_id, planned.run_id, ended=_ended(context.instance))
    except StalePlanError as exc:
        return Sent(None, str(exc))
    try:
        with client() as opened:
            accepted = outbox.send_pending(
                journal, target, planned.queue, partial(send, opened), concurrency=concurrency
            )
        return Sent(accepted)
    except outbox.StopSending as exc:
        return Sent(None, str(exc))
    except Exception as exc:  # recorded like a stop: the journal holds what was sent
        context.log.exception(f"write-back to {target} stopped")
        return Sent(None, f"write-back to {target} stopped: {type(exc).__name__}: {exc}")


def record_sent(
    context: dg.OpExecutionContext,
    con: duckdb.DuckDBPyConnection,
    journal: Journal,
    target: str,
    sent: Sent,
) -> None:
    """The record step's first work: the journal into the outbox, the lease given back, then
    the run fails if sending stopped (after what was sent is recorded)."""
    outbox.record_journal(con, journal)
    journal.give_back_lease(target, context.run_id)
    if sent.stopped:
        raise dg.Failure(
            description=sent.stopped,
            metadata=outbox_metadata(con, target),
        )


def claim_target(con: duckdb.DuckDBPyConnection, source: sources.Source) -> None:
    """Before anything is planned or sent: the target must be the one this warehouse's outbox
    was written for, and sandbox data never goes to a live target (nor live data to a sandbox)."""
    try:
        with transaction(con):
            sources.claim(con, source, reads=READS)
    except sources.MixedSourcesError as exc:
        raise dg.Failure(description=str(exc)) from exc


def outbox_metadata(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, Any]:
    counts = outbox.summary(con, target)
    return {
        **{f"outbox_{status}": n for status, n in counts.items()},
        "first_rejections": dg.MetadataValue.json(outbox.rejections(con, target)),
    }


def rejections_check(
    asset: dg.AssetsDefinition, target: str, vendor: str
) -> dg.AssetChecksDefinition:
    """`no_record_was_rejected` for `asset`: fails while any of its outbox rows is rejected."""

    @dg.asset_check(
        asset=asset,
        name="no_record_was_rejected",
        description=f"No record in the outbox (target `{target}`) was refused, by our "
        f"validation or by {vendor}; the first reasons are shown. Records still uncertain or "
        "failed are counted too.",
        pool="duckdb",
    )
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_columns(con, outbox.SCHEMA, "outbox"):
                return dg.AssetCheckResult(passed=True, metadata={"note": "nothing planned yet"})
            counts = outbox.summary(con, target)
            first = outbox.rejections(con, target)
        return dg.AssetCheckResult(
            passed=counts["rejected"] == 0,
            metadata={
                "rejected": counts["rejected"],
                "uncertain": counts["uncertain"],
                "failed": counts["failed"],
                "first_rejections": dg.MetadataValue.json(first),
            },
        )

    return _check
