"""The Basware Data Access API as a Dagster resource.

Live as soon as a `BASWARE_*` connection variable is set (see `p2p_assets/live.py`); with no
vendor variable set at all, the resource serves the Basware sandbox in-process on a loopback port,
sharing its state (acknowledgements, download counts) with every other process through
`{P2P_DATA_DIR}/sandbox/basware`, so a new user gets a full warehouse without credentials.

Sensors and assets receive the resource from Dagster with its `EnvVar`s resolved; everything else
(`p2p-assets sync`, the CLI, benchmarks) gets it from `p2p_assets.defs.resources.configured`, the
same resolution. `get_client()` is then the one way to a client.
"""

import os
import threading

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.basware import BaswareClient, basware_auth
from p2p_assets.lib.basware.landing import DEFAULT_DOWNLOAD_LIMIT
from p2p_assets.lib.warehouse.sources import Source
from p2p_assets.live import BASWARE, Mode

_sandbox_lock = threading.Lock()
_sandbox_urls: dict[str, str] = {}

ENV = {
    "api_url": "BASWARE_API_URL",
    "token_url": "BASWARE_TOKEN_URL",
    "client_id": "BASWARE_CLIENT_ID",
    "client_secret": "BASWARE_CLIENT_SECRET",
    "username": "BASWARE_USERNAME",
    "password": "BASWARE_PASSWORD",
}
"""Resource field -> the environment variable it comes from."""


class BaswareResource(dg.ConfigurableResource):
    """Where and how to reach Basware. Secrets come from environment variables only."""

    api_url: str | None = Field(
        default=None,
        description="BASWARE_API_URL, e.g. https://api.basware.com; no vendor variable at all "
        "means the sandbox.",
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
    download_limit: int = Field(
        default=DEFAULT_DOWNLOAD_LIMIT,
        description="BASWARE_DOWNLOAD_LIMIT: downloads Basware allows per extract file (5 in the "
        "earlier edition, 50 now); the last one is never spent without a person.",
    )

    @property
    def mode(self) -> Mode:
        """`Mode.SANDBOX` or `Mode.LIVE`; raises `ConfigurationError` naming the variables of
        an incomplete live configuration (`NotConfiguredError` when another vendor is live)."""
        return BASWARE.mode({variable: getattr(self, name) for name, variable in ENV.items()})

    @property
    def uses_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    def source(self) -> Source:
        """Where the data comes from, as the warehouse records it (never a credential)."""
        if self.uses_sandbox:
            return Source("basware", sandbox=True, endpoint="sandbox")
        assert self.api_url
        return Source.live("basware", self.api_url)

    def get_client(self) -> BaswareClient:
        """A plain client; use it as a context manager (one HTTP connection pool per run)."""
        tokens = settings.data_dir() / "basware" / "token.json"
        if self.uses_sandbox:
            from p2p_assets.sandbox.basware.env import SANDBOX_CREDENTIALS

            url = sandbox_url()
            auth = basware_auth(
                url,
                client_id=SANDBOX_CREDENTIALS["client_id"],
                client_secret=SANDBOX_CREDENTIALS["client_secret"],
                scopes=self.scopes.split(),
                cache_path=tokens,
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
            cache_path=tokens,
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
    """The resource as configured by the environment; values stay `dg.EnvVar`s (the UI shows
    the variable's name, never its value) until Dagster resolves them."""
    return BaswareResource(
        **{name: env_var(variable) for name, variable in ENV.items()},
        **({"scopes": os.environ["BASWARE_SCOPES"]} if os.environ.get("BASWARE_SCOPES") else {}),
        **(
            {"download_limit": int(os.environ["BASWARE_DOWNLOAD_LIMIT"])}
            if os.environ.get("BASWARE_DOWNLOAD_LIMIT")
            else {}
        ),
    )
