"""The Basware Data Access API as a Dagster resource.

With `BASWARE_API_URL` unset, the resource serves the Basware sandbox in-process on a loopback port,
sharing its state (acknowledgements, download counts) with every other process through
`{P2P_DATA_DIR}/sandbox/basware`, so a new user gets a full warehouse without credentials.
"""

import os
import threading

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.basware import BaswareClient, basware_auth

_sandbox_lock = threading.Lock()
_sandbox_urls: dict[str, str] = {}


class BaswareResource(dg.ConfigurableResource):
    """Where and how to reach Basware. Secrets come from environment variables only."""

    api_url: str | None = Field(
        default=None,
        description="BASWARE_API_URL, e.g. https://api.basware.com; unset means the sandbox.",
    )
    token_url: str | None = Field(
        default=None, description="BASWARE_TOKEN_URL; default {api_url}/v1/tokens."
    )
    client_id: str | None = Field(default=None, description="BASWARE_CLIENT_ID (OAuth2).")
    client_secret: str | None = Field(default=None, description="BASWARE_CLIENT_SECRET (OAuth2).")
    scopes: str = Field(
        default="dataExtract.read dataExtract.write",
        description="BASWARE_SCOPES, space separated; write is needed to acknowledge extracts.",
    )
    username: str | None = Field(default=None, description="BASWARE_USERNAME (Basic auth).")
    password: str | None = Field(default=None, description="BASWARE_PASSWORD (Basic auth).")

    @property
    def uses_sandbox(self) -> bool:
        return not self.api_url

    def get_client(self) -> BaswareClient:
        """A plain client; use it as a context manager (one HTTP connection pool per run)."""
        if self.uses_sandbox:
            from p2p_assets.sandbox.basware.env import SANDBOX_CREDENTIALS

            url = sandbox_url()
            auth = basware_auth(
                url,
                client_id=SANDBOX_CREDENTIALS["client_id"],
                client_secret=SANDBOX_CREDENTIALS["client_secret"],
                scopes=self.scopes.split(),
            )
            return BaswareClient(url, auth)
        assert self.api_url
        auth = basware_auth(
            self.api_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            scopes=self.scopes.split(),
            token_url=self.token_url,
        )
        return BaswareClient(self.api_url, auth)


def sandbox_url() -> str:
    """Serve the Basware sandbox once per process, on loopback, from the shared state directory."""
    from p2p_assets.sandbox.basware import BaswareSandbox
    from p2p_assets.sandbox.basware.env import config_from_env

    state_dir = settings.sandbox_dir("basware")
    with _sandbox_lock:
        key = str(state_dir)
        if key not in _sandbox_urls:
            sandbox = BaswareSandbox(config_from_env(), state_dir=state_dir)
            _sandbox_urls[key] = sandbox.serve_in_background()
        return _sandbox_urls[key]


def basware_resource_from_env() -> BaswareResource:
    """The resource as configured by the environment; secrets stay `dg.EnvVar`s (never shown)."""

    return BaswareResource(
        api_url=env_var("BASWARE_API_URL"),
        token_url=env_var("BASWARE_TOKEN_URL"),
        client_id=env_var("BASWARE_CLIENT_ID"),
        client_secret=env_var("BASWARE_CLIENT_SECRET"),
        username=env_var("BASWARE_USERNAME"),
        password=env_var("BASWARE_PASSWORD"),
        **({"scopes": os.environ["BASWARE_SCOPES"]} if os.environ.get("BASWARE_SCOPES") else {}),
    )
