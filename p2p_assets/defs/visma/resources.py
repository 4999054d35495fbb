"""The Visma Youforce File API as a Dagster resource.

Live as soon as a `VISMA_*` connection variable is set (see `p2p_assets/live.py`); with no vendor
variable set at all, the resource serves the Visma sandbox in-process on a loopback port, sharing
its state with every other process through `{P2P_DATA_DIR}/sandbox/visma`.

The token is cached in `{P2P_DATA_DIR}/visma/token.json` (owner-only) and the spike-arrest pace in
`{P2P_DATA_DIR}/visma/pace`, both shared by every process: sensor ticks, runs and
`p2p-assets sync` together spend one authentication call per token lifetime and never exceed one
call per 0.6 s.
"""

import os
import threading
from datetime import UTC
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.tokens import cache_key
from p2p_assets.lib.visma import (
    CONNECT_TOKEN_URL,
    CURRENT_URL,
    LEGACY_TOKEN_URL,
    Pacer,
    VismaClient,
    VismaConfigError,
    VismaTokenAuth,
)
from p2p_assets.lib.visma.business_types import parse_subscriptions
from p2p_assets.lib.visma.pacing import DEFAULT_INTERVAL, VENDOR_INTERVAL
from p2p_assets.lib.visma.plans import Plan, Window, parse_window, plan_named
from p2p_assets.lib.visma.usage import ConcurrencySlots, UsageLedger
from p2p_assets.lib.warehouse.sources import Source
from p2p_assets.live import VISMA, Mode

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma import VismaSandboxConfig

ENV = {
    "api_url": "VISMA_API_URL",
    "token_url": "VISMA_TOKEN_URL",
    "client_id": "VISMA_CLIENT_ID",
    "client_secret": "VISMA_CLIENT_SECRET",
    "tenant_id": "VISMA_TENANT_ID",
}
"""Resource field -> the environment variable it comes from."""
SANDBOX_WINDOW = "06:00-08:00"  # the sandbox's own default window on its windowed plans

_sandbox_lock = threading.Lock()
_sandbox_urls: dict[str, "tuple[str, VismaSandboxConfig]"] = {}


def subscriptions_from_env() -> tuple[int, ...]:
    """The business types to load (`VISMA_BUSINESS_TYPES`); an asset is defined for each."""
    return parse_subscriptions(os.environ.get("VISMA_BUSINESS_TYPES"))


class VismaResource(dg.ConfigurableResource):
    """Where and how to reach the Visma File API. Secrets come from environment variables only."""

    api_url: str | None = Field(
        default=None, description=f"VISMA_API_URL; default {CURRENT_URL} when credentials are set."
    )
    token_url: str | None = Field(
        default=None,
        description="VISMA_TOKEN_URL; default the Visma Connect token URL. A URL ending in "
        "/authentication/token selects the legacy flow (x-raet-tenant-id on every request).",
    )
    client_id: str | None = Field(default=None, description="VISMA_CLIENT_ID.")
    client_secret: str | None = Field(default=None, description="VISMA_CLIENT_SECRET.")
    tenant_id: str | None = Field(default=None, description="VISMA_TENANT_ID.")
    plan: str = Field(
        default="continuous",
        description="VISMA_PLAN: weekly, daily or continuous (see lib/visma/plans.py: the call "
        "window and caps, 7, 40 or 400 authentication calls a month, 1, 1 or 3 concurrent calls).",
    )
    window: str | None = Field(
        default=None,
        description="VISMA_WINDOW: the weekly and daily plans' 2-hour call window, e.g. "
        "'06:00-08:00', 'Mon 06:00-08:00 Europe/Amsterdam' (default zone: local time).",
    )
    poll_interval_seconds: float | None = Field(
        default=None,
        description="VISMA_POLL_INTERVAL_SECONDS: how often the sensor lists files (default 1800 "
        "inside the window on the weekly and daily plans, 900 on the continuous plan, 60 with the "
        "sandbox).",
    )

    @property
    def mode(self) -> Mode:
        """`Mode.SANDBOX` or `Mode.LIVE`; raises `ConfigurationError` naming the variables of
        an incomplete live configuration (`NotConfiguredError` when another vendor is live)."""
        values = {variable: getattr(self, name) for name, variable in ENV.items()}
        return VISMA.mode({**values, "VISMA_PLAN": self.plan, "VISMA_WINDOW": self.window})

    @property
    def uses_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    def source(self) -> Source:
        if self.uses_sandbox:
            return Source("visma", sandbox=True, endpoint="sandbox")
        return Source.live("visma", self.api_url or CURRENT_URL)

    def usage_plan(self) -> tuple[Plan, Window | None]:
        """The plan the API we talk to enforces and its call window (the sandbox's own when
        serving the sandbox); raises `VismaConfigError` for a bad VISMA_PLAN or VISMA_WINDOW."""
        if self.uses_sandbox:  # the sandbox reads a window without a zone as UTC
            config = sandbox_url()[1]
            name, text, zone = config.plan, config.window or SANDBOX_WINDOW, UTC
        else:
            name, text, zone = self.plan, self.window, None
        try:
            plan = plan_named(name)
            window = parse_window(text, plan, default_zone=zone) if plan.windowed and text else None
        except ValueError as exc:
            raise VismaConfigError(str(exc)) from None
        if plan.windowed and window is None:
            raise VismaConfigError(f"The {plan.name} plan needs VISMA_WINDOW (its call window)")
        return plan, window

    def poll_seconds(self) -> float:
        """The sensor's poll interval: configured, else the plan's (a minute with the sandbox's
        continuous plan, as for Basware's sandbox, so a new user sees deliveries soon)."""
        if self.poll_interval_seconds:
            return self.poll_interval_seconds
        plan = self.usage_plan()[0]
        return 60.0 if self.uses_sandbox and not plan.windowed else plan.poll_seconds

    def ledger(self) -> UsageLedger:
        """What this app spent of its plan, shared by every process (usage.py); per app (token
        issuer, client and tenant), as Visma counts."""
        plan, window = self.usage_plan()
        if self.uses_sandbox:
            path, app = settings.data_dir() / "visma" / "sandbox-usage.json", "sandbox"
        else:
            issuer = self.token_url or CONNECT_TOKEN_URL
            path = settings.data_dir() / "visma" / "usage.json"
            app = cache_key(issuer, self.client_id, self.tenant_id)
        return UsageLedger(path, plan, window, app=app)

    def get_client(self, *, slot_wait_seconds: float = 300.0) -> VismaClient:
        """A plain client; use it as a context manager (one HTTP connection pool per run).

        Every call is admitted by the plan's ledger and concurrency slots first (usage.py);
        `slot_wait_seconds` is how long a call waits for a free slot (sensor ticks wait less).
        """
        ledger = self.ledger()
        plan = ledger.plan
        state = settings.data_dir() / "visma"
        prefix = "sandbox-" if self.uses_sandbox else ""
        slots = ConcurrencySlots(
            state / f"{prefix}slots", plan.concurrency, wait_seconds=slot_wait_seconds
        )
        if self.uses_sandbox:
            from p2p_assets.sandbox.visma.env import SANDBOX_CREDENTIALS

            url, config = sandbox_url()
            spike = config.spike_interval_seconds
            auth = VismaTokenAuth(
                SANDBOX_CREDENTIALS["client_id"],
                SANDBOX_CREDENTIALS["client_secret"],
                SANDBOX_CREDENTIALS["tenant_id"],
                token_url=f"{url}/connect/token",
                cache_path=state / "sandbox-token.json",
                cache_scope=f"sandbox:{settings.sandbox_dir('visma')}",
                usage=ledger,
            )
            # Pace to the API we talk to: the sandbox's spike arrest may be switched off.
            interval = spike + (DEFAULT_INTERVAL - VENDOR_INTERVAL) if spike > 0 else 0.0
            pacer = Pacer(interval, state_path=state / "sandbox-pace")
            return VismaClient(f"{url}/v1.0", auth, pacer=pacer, usage=ledger, slots=slots)
        api_url = self.api_url or CURRENT_URL
        legacy = bool(self.token_url and self.token_url.rstrip("/").endswith(
            urlparse(LEGACY_TOKEN_URL).path
        ))  # fmt: skip
        auth = VismaTokenAuth(
            self.client_id or "",
            self.client_secret or "",
            self.tenant_id,
            legacy=legacy,
            token_url=self.token_url,
            cache_path=state / "token.json",
            usage=ledger,
        )
        pacer = Pacer(state_path=state / "pace")
        return VismaClient(
            api_url, auth, tenant_id=self.tenant_id if legacy else None, pacer=pacer,
            usage=ledger, slots=slots,
        )  # fmt: skip


def sandbox_url() -> "tuple[str, VismaSandboxConfig]":
    """Serve the Visma sandbox once per process on loopback; (base URL, its configuration)."""
    from p2p_assets.sandbox.visma import VismaSandbox
    from p2p_assets.sandbox.visma.env import config_from_env

    state_dir = settings.sandbox_dir("visma")
    with _sandbox_lock:
        key = str(state_dir)
        if key not in _sandbox_urls:
            state_dir.mkdir(parents=True, exist_ok=True)
            config = config_from_env()
            sandbox = VismaSandbox(config, state_dir)
            _sandbox_urls[key] = (sandbox.serve_in_background(), config)
        return _sandbox_urls[key]


def visma_resource_from_env() -> VismaResource:
    """The resource as configured by the environment; secrets stay `dg.EnvVar`s (never shown)."""

    return VismaResource(
        **{name: env_var(variable) for name, variable in ENV.items()},
        plan=os.environ.get("VISMA_PLAN") or "continuous",
        window=os.environ.get("VISMA_WINDOW") or None,
        poll_interval_seconds=settings.seconds_from_env("VISMA_POLL_INTERVAL_SECONDS", 0.0) or None,
    )
