"""A one-method fix for Dagster's executor spinning while a step waits for a pool slot.

Dagster 1.13's `InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns
`min([0, *waits])`, which is never positive, so `ActiveExecution.sleep_til_ready` sleeps 0 s and
a run waiting for a slot (in this process: a sync waiting for `duckdb`) polls its storage in a
busy loop at 100 % CPU (upstream bug, cf. dagster-io/dagster PR #20367). The intended value is
the time until the next pending claim is due for a re-check.

The defs autoloader imports this module, so run workers, the daemon's code server and
`p2p-assets sync` all get it. It patches only while the installed method still shows the bug,
so an upstream fix is never overridden; delete this module once Dagster ships the fix.
"""

import time

from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)


def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    """Seconds until the earliest pending claim may be re-checked; 0 when one is due now or
    when nothing is pending."""
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    now = time.time()
    return max(0.0, min(ready_at - now for ready_at in self._pending_timeouts.values()))


def _upstream_spins() -> bool:
    """Whether the installed method answers 0 for a claim that is not due for a minute."""
    probe = InstanceConcurrencyContext.__new__(InstanceConcurrencyContext)
    probe._pending_claims = {"probe"}
    probe._pending_timeouts = {"probe": time.time() + 60}
    try:
        return InstanceConcurrencyContext.interval_to_next_pending_claim_check(probe) <= 0
    except Exception:  # internals changed: not the method this fix is for
        return False


PATCHED = _upstream_spins()
if PATCHED:
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (  # type: ignore[method-assign]
        interval_to_next_pending_claim_check
    )
