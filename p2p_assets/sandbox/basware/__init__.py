"""The Basware Data Access API sandbox: a deterministic simulated tenant served over loopback HTTP.

See docs/architecture.md ("Sandbox contract") for how tests and benchmarks use it.
"""

from p2p_assets.sandbox.basware.config import BaswareFaults, BaswareSandboxConfig, FailRule
from p2p_assets.sandbox.basware.sandbox import BaswareSandbox, serve_forever

__all__ = ["BaswareFaults", "BaswareSandbox", "BaswareSandboxConfig", "FailRule", "serve_forever"]
