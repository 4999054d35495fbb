"""The Workspace 365 Business App API sandbox: environments, installed Business Apps, validation."""

from p2p_assets.sandbox.workspace365.config import (
    INVOICE_EXCEPTIONS,
    SANDBOX_TOKEN,
    AppField,
    BusinessApp,
    Workspace365Faults,
    Workspace365SandboxConfig,
)
from p2p_assets.sandbox.workspace365.sandbox import Workspace365Sandbox

__all__ = [
    "INVOICE_EXCEPTIONS",
    "SANDBOX_TOKEN",
    "AppField",
    "BusinessApp",
    "Workspace365Faults",
    "Workspace365Sandbox",
    "Workspace365SandboxConfig",
]
