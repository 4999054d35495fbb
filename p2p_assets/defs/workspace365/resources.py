"""The Workspace 365 Business App API as a Dagster resource.

With `WORKSPACE365_URL` unset, the resource serves the Workspace 365 sandbox in-process on a
loopback port, with its state (the created records) in `{P2P_DATA_DIR}/sandbox/workspace365`.
"""

import os
import threading

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.workspace365.client import Workspace365Client

_sandbox_lock = threading.Lock()
_sandbox_urls: dict[str, str] = {}


class Workspace365Resource(dg.ConfigurableResource):
    """Where and how to reach Workspace 365. The token comes from the environment only."""

    url: str | None = Field(
        default=None, description="WORKSPACE365_URL, e.g. https://workspace365.url; unset: sandbox."
    )
    environment: str = Field(default="p2p", description="WORKSPACE365_ENVIRONMENT.")
    token: str | None = Field(default=None, description="WORKSPACE365_TOKEN (per environment).")
    language: str | None = Field(
        default=None, description="WORKSPACE365_LANGUAGE, e.g. nl: the language of refusals."
    )

    @property
    def uses_sandbox(self) -> bool:
        return not self.url

    def get_client(self) -> Workspace365Client:
        if self.uses_sandbox:
            from p2p_assets.sandbox.workspace365 import SANDBOX_TOKEN

            return Workspace365Client(
                sandbox_url(), self.environment, SANDBOX_TOKEN, language=self.language
            )
        assert self.url
        return Workspace365Client(
            self.url, self.environment, self.token or "", language=self.language
        )


def sandbox_url() -> str:
    from p2p_assets.sandbox.workspace365 import Workspace365Sandbox, Workspace365SandboxConfig

    state_dir = settings.sandbox_dir("workspace365")
    with _sandbox_lock:
        key = str(state_dir)
        if key not in _sandbox_urls:
            sandbox = Workspace365Sandbox(Workspace365SandboxConfig(), state_dir)
            _sandbox_urls[key] = sandbox.serve_in_background()
        return _sandbox_urls[key]


def workspace365_resource_from_env() -> Workspace365Resource:
    return Workspace365Resource(
        url=env_var("WORKSPACE365_URL"),
        environment=os.environ.get("WORKSPACE365_ENVIRONMENT") or "p2p",
        token=env_var("WORKSPACE365_TOKEN"),
        language=os.environ.get("WORKSPACE365_LANGUAGE") or None,
    )
