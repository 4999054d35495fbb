"""Sending a target's queue: up to `concurrency` vendor calls at once, each record claimed in the
send journal before its call and its outcome journalled after it.

One thread (the caller's) decides what goes out: it claims the next records, as many as there
are free slots, in queue order and in one journal commit (one fsync), and hands each to a worker
of a thread pool the size of `concurrency`, so every claimed record's call starts at once. Each
worker makes its call and journals the outcome itself, straight after the answer. Hence:
- a claim is on disk before its call, and nothing is claimed that is not about to be sent;
- a process killed at any moment leaves at most `concurrency` claims without an outcome, which the
  next plan turns into `uncertain` (never sent again blindly): a crash never duplicates a record;
- `StopSending` (the vendor can take nothing now) stops the claiming at once; the calls already
  made finish, and every one of them is journalled, before `send_pending` raises it.
With `concurrency` 1 this is the old one-at-a-time loop: claim, call, outcome, next.
"""

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from p2p_assets.lib.writeback.journal import Journal

if TYPE_CHECKING:
    from p2p_assets.lib.writeback.outbox import Outgoing

log = logging.getLogger(__name__)
CRASH_AFTER = "P2P_WRITEBACK_CRASH_AFTER_ACCEPTED"
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32


class ConcurrencyError(ValueError):
    """A configured concurrency that is not a whole number from 1 to `MAX_CONCURRENCY`."""


def concurrency_from(variable: str, value: str | int | None) -> int:
    """The concurrency configured in `variable` (unset or empty: `DEFAULT_CONCURRENCY`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_CONCURRENCY
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_CONCURRENCY:
        raise ConcurrencyError(
            f"{variable} must be a whole number of concurrent calls from 1 to {MAX_CONCURRENCY} "
            f"(default {DEFAULT_CONCURRENCY}), not {value!r}"
        )
    return number


@dataclass(frozen=True)
class Outcome:
    """How one vendor call ended: `sent`, `rejected` or `uncertain`."""

    status: str
    remote_id: str | None = None
    sync_id: str | None = None
    error: str | None = None
    field_errors: Mapping[str, str] | None = None


class StopSending(Exception):
    """The vendor cannot take any record now (credentials refused, unreachable, the app
    disabled): nothing more is sent and the run stops. The record in hand was not created; it is
    journalled as `status`: `failed` (retried next time under a new tracking id) or `pending`
    (sent next time as if never tried)."""

    def __init__(self, message: str, *, status: str = "failed") -> None:
        if status not in ("failed", "pending"):
            raise ValueError(f"StopSending status must be failed or pending, not {status!r}")
        super().__init__(message)
        self.status = status


def send_pending(
    journal: Journal,
    target: str,
    queue: Sequence["Outgoing"],
    send: Callable[["Outgoing"], Outcome],
    *,
    concurrency: int = 1,
) -> int:
    """Send each queued record with `send`, up to `concurrency` at once: claimed in the journal
    before its call, its outcome journalled after. Returns how many the vendor accepted; raises
    the first `StopSending` (or other error) once every call made has ended."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    sending = _Sending(journal, target, send)
    waiting = iter(queue)
    in_flight: set[Future[None]] = set()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="writeback-send") as pool:
        try:
            while True:
                if not sending.stop.is_set():
                    batch = list(islice(waiting, concurrency - len(in_flight)))
                    if batch:
                        journal.claim_many(target, [(i.key, i.tracking_id) for i in batch])
                        in_flight.update(pool.submit(sending.one, item) for item in batch)
                if not in_flight:
                    break
                _, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        except BaseException as exc:  # e.g. Ctrl-C: claim nothing more; the pool's exit waits
            sending.stopped(exc)  # for the calls made, and each journals its outcome
            raise
    if sending.error is not None:
        raise sending.error
    return sending.accepted


class _Sending:
    """What the workers of one `send_pending` share: the count accepted and the first stop."""

    def __init__(self, journal: Journal, target: str, send: Callable[["Outgoing"], Outcome]):
        self.journal, self.target, self.send = journal, target, send
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.accepted = 0
        self._lock = threading.Lock()

    def stopped(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
            elif str(error) != str(self.error):  # the same cause met by other calls: once
                log.warning("write-back to %s: also stopped by %s", self.target, error)
        self.stop.set()

    def one(self, item: "Outgoing") -> None:
        journal, target = self.journal, self.target
        if self.stop.is_set():  # claimed as the run stopped: never sent, so still to send
            journal.settle(target, item.key, item.tracking_id, "pending",
                           error=f"not sent: {self.error}")  # fmt: skip
            return
        try:
            outcome = self.send(item)
        except StopSending as exc:
            journal.settle(target, item.key, item.tracking_id, exc.status, error=str(exc))
            self.stopped(exc)
            return
        except Exception as exc:  # no outcome journalled: the claim alone means "may be sent"
            self.stopped(exc)
            return
        if outcome.status == "sent":
            with self._lock:
                self.accepted += 1
                accepted = self.accepted
            crash_for_tests(accepted)
        journal.settle(
            target, item.key, item.tracking_id, outcome.status, remote_id=outcome.remote_id,
            sync_id=outcome.sync_id, error=outcome.error, field_errors=outcome.field_errors,
        )  # fmt: skip


def crash_for_tests(accepted: int) -> None:
    """The crash tests' hook: with `P2P_WRITEBACK_CRASH_AFTER_ACCEPTED=n`, the process dies hard
    right after the vendor accepted the n-th record, before the outbox records it (other calls
    may be in flight then)."""
    limit = int(os.environ.get(CRASH_AFTER) or 0)
    if limit and accepted >= limit:
        os._exit(70)
