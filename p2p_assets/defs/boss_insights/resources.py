"""The Boss Insights Data API (write side) as a Dagster resource.

Set `BOSS_INSIGHTS_URL` (e.g. `https://acme.myintranetapps.com/api`) with `BOSS_INSIGHTS_USERNAME`,
`BOSS_INSIGHTS_PASSWORD` and `BOSS_INSIGHTS_ACCOUNT_KEY` to write to a real account. Boss Insights
does not publish its write paths, so with a real URL `BOSS_INSIGHTS_VENDOR_PATH` and
`BOSS_INSIGHTS_PAYABLE_INVOICE_PATH` must be set too (relative to the URL, e.g. `/vendors`).

With `BOSS_INSIGHTS_URL` unset, the resource serves the Boss Insights sandbox in-process on a
loopback port (state in `{P2P_DATA_DIR}/sandbox/boss_insights`), together with our own webhook
receiver, to which the sandbox delivers its push webhooks: they land in the same event store that
`p2p-assets webhooks serve` fills in production. A run waits for its pushes' webhooks before it
ends, so the sandbox's answers are never lost with the process.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.boss_insights.client import BossInsightsClient, BossInsightsError
from p2p_assets.lib.warehouse.sources import Source
from p2p_assets.lib.writeback.sending import ConcurrencyError, concurrency_from
from p2p_assets.live import BOSS_INSIGHTS, Mode

if TYPE_CHECKING:
    from p2p_assets.sandbox.boss_insights import BossInsightsSandbox

ENV = {
    "url": "BOSS_INSIGHTS_URL",
    "username": "BOSS_INSIGHTS_USERNAME",
    "password": "BOSS_INSIGHTS_PASSWORD",
    "account_key": "BOSS_INSIGHTS_ACCOUNT_KEY",
    "vendor_path": "BOSS_INSIGHTS_VENDOR_PATH",
    "payable_invoice_path": "BOSS_INSIGHTS_PAYABLE_INVOICE_PATH",
}
"""Resource field -> the environment variable it comes from."""
OBJECTS = ("vendor", "payable_invoice")
SANDBOX_PATHS = {"vendor": "/vendors", "payable_invoice": "/payable-invoices"}
_sandbox_lock = threading.Lock()
_sandboxes: dict[str, tuple[str, "BossInsightsSandbox"]] = {}


class BossInsightsResource(dg.ConfigurableResource):
    """Where and how to reach Boss Insights. Credentials come from the environment only."""

    url: str | None = Field(default=None, description="BOSS_INSIGHTS_URL; unset: the sandbox.")
    username: str | None = Field(default=None, description="BOSS_INSIGHTS_USERNAME.")
    password: str | None = Field(default=None, description="BOSS_INSIGHTS_PASSWORD.")
    account_key: str | None = Field(default=None, description="BOSS_INSIGHTS_ACCOUNT_KEY.")
    vendor_path: str | None = Field(
        default=None, description="BOSS_INSIGHTS_VENDOR_PATH: the CDM vendor write path."
    )
    payable_invoice_path: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_PAYABLE_INVOICE_PATH: the CDM payable invoice write path.",
    )
    push: bool = Field(
        default=True,
        description="BOSS_INSIGHTS_PUSH: send `X-Sync-Data: push` so writes flow on to the "
        "connected applications (and webhooks confirm them).",
    )
    sync_sources: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_SYNC_SOURCES: `X-Sync-Sources`, e.g. `quickbooks` or "
        "`accounting`; unset: every connected application that takes the object.",
    )
    concurrency: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_CONCURRENCY: records written at once, 1 to 32 (default 4).",
    )

    @property
    def mode(self) -> Mode:
        return BOSS_INSIGHTS.mode({variable: getattr(self, name) for name, variable in ENV.items()})

    @property
    def uses_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    def source(self) -> Source:
        if self.uses_sandbox:
            return Source("boss_insights", sandbox=True, endpoint="sandbox")
        assert self.url
        return Source.live("boss_insights", self.url)

    def write_path(self, obj: str) -> str:
        configured = {"vendor": self.vendor_path, "payable_invoice": self.payable_invoice_path}
        path = configured[obj] or (SANDBOX_PATHS[obj] if self.uses_sandbox else None)
        if not path:
            variable = f"BOSS_INSIGHTS_{obj.upper()}_PATH"
            raise BossInsightsError(
                f"Boss Insights: no write path for {obj}s; Boss Insights does not publish them, "
                f"so set {variable} (relative to BOSS_INSIGHTS_URL)"
            )
        return path

    def send_concurrency(self) -> int:
        """BOSS_INSIGHTS_CONCURRENCY, read; a value that is not 1 to 32 fails before anything."""
        try:
            return concurrency_from("BOSS_INSIGHTS_CONCURRENCY", self.concurrency)
        except ConcurrencyError as exc:
            raise BossInsightsError(f"Boss Insights: {exc}") from None

    @contextmanager
    def get_client(self) -> Iterator[BossInsightsClient]:
        if self.uses_sandbox:
            from p2p_assets.sandbox.boss_insights import SANDBOX_CREDENTIALS

            url, sandbox = sandbox_endpoint()
            client = BossInsightsClient(
                f"{url}/api", **SANDBOX_CREDENTIALS, push=self.push,
                sync_sources=self.sync_sources,
            )  # fmt: skip
            try:
                with client:
                    yield client
            finally:
                sandbox.drain()
            return
        assert self.url
        with BossInsightsClient(
            self.url, self.username or "", self.password or "", self.account_key or "",
            push=self.push, sync_sources=self.sync_sources,
        ) as client:  # fmt: skip
            yield client


def webhook_credentials() -> tuple[str, str]:
    """The webhook receiver's Basic credentials; the sandbox's own when none are configured."""
    from p2p_assets.sandbox.boss_insights import SANDBOX_WEBHOOK_CREDENTIALS

    username = os.environ.get("P2P_WEBHOOK_USERNAME")
    password = os.environ.get("P2P_WEBHOOK_PASSWORD")
    return (username, password) if username and password else SANDBOX_WEBHOOK_CREDENTIALS


def sandbox_endpoint() -> tuple[str, "BossInsightsSandbox"]:
    """The in-process sandbox for this data dir (and its webhook receiver), started once."""
    from p2p_assets.lib.webhooks.receiver import EventStore, WebhookServer
    from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox

    state_dir = settings.sandbox_dir("boss_insights")
    with _sandbox_lock:
        key = str(state_dir)
        if key not in _sandboxes:
            username, password = webhook_credentials()
            receiver = WebhookServer(
                ("127.0.0.1", 0), EventStore(settings.webhook_store()), username, password
            )
            config = BossInsightsConfig(
                webhook_url=receiver.serve_in_thread(),
                webhook_username=username,
                webhook_password=password,
            )
            sandbox = BossInsightsSandbox(config, state_dir)
            _sandboxes[key] = (sandbox.serve_in_background(), sandbox)
        return _sandboxes[key]


def boss_insights_resource_from_env() -> BossInsightsResource:
    def plain(name: str) -> str | None:
        return os.environ.get(name) or None

    secrets = {"url", "username", "password", "account_key"}
    return BossInsightsResource(
        **{
            name: env_var(variable) if name in secrets else plain(variable)
            for name, variable in ENV.items()
        },
        push=(plain("BOSS_INSIGHTS_PUSH") or "true").lower() not in ("0", "false", "no"),
        sync_sources=plain("BOSS_INSIGHTS_SYNC_SOURCES"),
        concurrency=plain("BOSS_INSIGHTS_CONCURRENCY"),
    )
