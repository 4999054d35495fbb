"""The Visma Youforce File API sandbox: a deterministic simulated client application (subscriber of
payroll, RBM and HR business types, publisher of 7100) served over loopback HTTP."""

from p2p_assets.sandbox.visma.config import FailRule, VismaFaults, VismaSandboxConfig
from p2p_assets.sandbox.visma.sandbox import VismaSandbox, serve_forever

__all__ = ["FailRule", "VismaFaults", "VismaSandbox", "VismaSandboxConfig", "serve_forever"]
