"""The Visma Youforce File API sandbox: a deterministic simulated client application (subscriber of
payroll, RBM and HR business types, publisher of 7100) served over loopback HTTP, exactly as strict
as Visma and no stricter.

It enforces the app's usage plan (`limits.py`, `window.py`: the weekly and daily plans' 2-hour
call window, calls per window and per day, window days a month, monthly authentication calls,
concurrency, spike arrest) and retention (content a month after delivery, metadata six months),
all on a movable clock shared through the state dir (`clock.py`; `VismaSandbox.set_now`,
`advance`, `GET/POST /_sandbox/clock`). Modules: `sandbox.py` the Python API, `app.py` the
gateway and tokens, `endpoints.py` / `publishing.py` the File API, `admin.py` `/_sandbox/`,
`state.py` the shared SQLite state, `config.py` the app, its plan and faults, `env.py` the
`P2P_SANDBOX_VISMA_*` variables.
"""

from p2p_assets.sandbox.visma.config import FailRule, VismaFaults, VismaSandboxConfig
from p2p_assets.sandbox.visma.sandbox import VismaSandbox, serve_forever

__all__ = ["FailRule", "VismaFaults", "VismaSandbox", "VismaSandboxConfig", "serve_forever"]
