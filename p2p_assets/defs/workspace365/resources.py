"""The Workspace 365 Business App API as a Dagster resource.

Live as soon as a `WORKSPACE365_*` connection variable is set (see `p2p_assets/live.py`); with no
vendor variable set at all, the resource serves the Workspace 365 sandbox in-process on a loopback
port, with its state (the created records) in `{P2P_DATA_DIR}/sandbox/workspace365`.
"""

import os
import threading
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.warehouse.sources import Source
from p2p_assets.lib.workspace365.client import Workspace365Client
from p2p_assets.lib.workspace365.errors import Workspace365ConfigError
from p2p_assets.lib.workspace365.fields import TIMEZONE_VARIABLE, timezone_from
from p2p_assets.lib.writeback.sending import ConcurrencyError, concurrency_from
from p2p_assets.live import WORKSPACE365, Mode

SANDBOX_ENVIRONMENT = "p2p"
ENV = {
    "url": "WORKSPACE365_URL",
    "environment": "WORKSPACE365_ENVIRONMENT",
    "token": "WORKSPACE365_TOKEN",
}
"""Resource field -> the environment variable it comes from."""
CONCURRENCY_VARIABLE = "WORKSPACE365_CONCURRENCY"

_sandbox_lock = threading.Lock()
_sandbox_urls: dict[str, str] = {}


class Workspace365Resource(dg.ConfigurableResource):
    """Where and how to reach Workspace 365. The token comes from the environment only."""

    url: str | None = Field(
        default=None, description="WORKSPACE365_URL, e.g. https://workspace365.url; unset: sandbox."
    )
    environment: str | None = Field(
        default=None, description="WORKSPACE365_ENVIRONMENT (the sandbox's is `p2p`)."
    )
    token: str | None = Field(default=None, description="WORKSPACE365_TOKEN (per environment).")
    language: str | None = Field(
        default=None, description="WORKSPACE365_LANGUAGE, e.g. nl: the language of refusals."
    )
    timezone: str | None = Field(
        default=None,
        description="WORKSPACE365_TIMEZONE, an IANA name such as Europe/Amsterdam: the zone of "
        "date-times without one, then sent with their offset; unset: sent without a zone, and "
        "Workspace 365 assumes the environment's (as its manual says).",
    )
    concurrency: str | None = Field(
        default=None,
        description="WORKSPACE365_CONCURRENCY: records created at once, 1 to 32 (default 4).",
    )

    @property
    def mode(self) -> Mode:
        return WORKSPACE365.mode({variable: getattr(self, name) for name, variable in ENV.items()})

    @property
    def uses_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    def zone(self) -> ZoneInfo | None:
        """The configured zone of date-times without one; raises `Workspace365ConfigError`
        naming WORKSPACE365_TIMEZONE when it is not a zone."""
        return timezone_from(self.timezone)

    def send_concurrency(self) -> int:
        """How many records are sent at once; raises `Workspace365ConfigError` naming
        WORKSPACE365_CONCURRENCY when it is not a whole number from 1 to 32."""
        try:
            return concurrency_from(CONCURRENCY_VARIABLE, self.concurrency)
        except ConcurrencyError as exc:
            raise Workspace365ConfigError(str(exc)) from None

    def source(self) -> Source:
        if self.uses_sandbox:
            return Source("workspace365", sandbox=True, endpoint="sandbox")
        assert self.url
        return Source.live("workspace365", self.url)

    def get_client(self) -> Workspace365Client:
        if self.uses_sandbox:
            from p2p_assets.sandbox.workspace365 import SANDBOX_TOKEN

            return Workspace365Client(
                sandbox_url(), SANDBOX_ENVIRONMENT, SANDBOX_TOKEN, language=self.language
            )
        assert self.url and self.environment and self.token
        return Workspace365Client(self.url, self.environment, self.token, language=self.language)


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
        **{name: env_var(variable) for name, variable in ENV.items()},
        language=os.environ.get("WORKSPACE365_LANGUAGE") or None,
        timezone=os.environ.get(TIMEZONE_VARIABLE) or None,
        concurrency=os.environ.get(CONCURRENCY_VARIABLE) or None,
    )
