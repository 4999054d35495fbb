"""The Boss Insights Data API (write side) as a Dagster resource.

Set `BOSS_INSIGHTS_URL` (e.g. `https://acme.myintranetapps.com/api`) with `BOSS_INSIGHTS_USERNAME`,
`BOSS_INSIGHTS_PASSWORD` and `BOSS_INSIGHTS_ACCOUNT_KEY` to write to a real account. Boss Insights
does not publish its write paths, so with a real URL `BOSS_INSIGHTS_VENDOR_PATH` and
`BOSS_INSIGHTS_PAYABLE_INVOICE_PATH` must be set too (relative to the URL, e.g. `/vendors`).

What the manual leaves out is configuration too, with safe defaults: `BOSS_INSIGHTS_UPDATE` (how a
changed record is updated; default none: reported, never posted again), `BOSS_INSIGHTS_ID_PATH`
(where a create's answer carries the CDM id) and the `BOSS_INSIGHTS_WEBHOOK_*` paths and values
(where a webhook carries its ids and outcome, and which outcomes are a success; see
`lib/boss_insights/layout.py`).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from p2p_assets import settings
from p2p_assets.defs.env import env_var
from p2p_assets.lib.boss_insights import layout
from p2p_assets.lib.boss_insights.client import BossInsightsClient, BossInsightsError
from p2p_assets.lib.boss_insights.layout import WebhookLayout
from p2p_assets.lib.boss_insights.updates import UpdateConfigError, UpdateMethod, parse_update
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
WEBHOOK = {
    "tracking_id": "TRACKING_ID_PATH",
    "sync_id": "SYNC_ID_PATH",
    "outcome": "OUTCOME_PATH",
    "message": "MESSAGE_PATH",
    "destination": "DESTINATION_PATH",
    "results": "RESULTS_PATH",
    "result_outcome": "RESULT_OUTCOME_PATH",
    "result_destination": "RESULT_DESTINATION_PATH",
    "result_message": "RESULT_MESSAGE_PATH",
    "success_values": "SUCCESS_VALUES",
    "failure_values": "FAILURE_VALUES",
    "pending_values": "PENDING_VALUES",
}
"""WebhookLayout field -> its variable, `BOSS_INSIGHTS_WEBHOOK_<name>` (comma-separated lists)."""
OPTIONS = {
    "update": "BOSS_INSIGHTS_UPDATE",
    "id_path": "BOSS_INSIGHTS_ID_PATH",
    "destinations": "BOSS_INSIGHTS_DESTINATIONS",
    "mapping_dir": "BOSS_INSIGHTS_MAPPING_DIR",
    **{f"webhook_{name}": f"BOSS_INSIGHTS_WEBHOOK_{v}" for name, v in WEBHOOK.items()},
}
"""Further resource fields -> their variables (plain configuration, no secrets)."""
OBJECTS = ("vendor", "payable_invoice")
SANDBOX_PATHS = {"vendor": "/vendors", "payable_invoice": "/payable-invoices"}
_sandbox_lock = threading.Lock()
_sandboxes: dict[str, tuple[str, "BossInsightsSandbox"]] = {}


def _webhook(name: str, meaning: str) -> Any:
    variable = f"BOSS_INSIGHTS_WEBHOOK_{name}" + ("" if name.endswith("_VALUES") else "_PATH")
    return Field(default=None, description=f"{variable}: {meaning}.")


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
    update: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_UPDATE: how a changed record is written again: `PUT "
        "{path}/{id}` (by the id the CDM returned), `POST` (the CDM upserts by external_id) or "
        "unset/`none` (a changed record is reported as changed_since_sent, never posted again).",
    )
    id_path: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_ID_PATH: where a create's answer carries the CDM id (a path "
        "into the JSON body or `header:<name>`; default `id`).",
    )
    destinations: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_DESTINATIONS: the connected applications each push must "
        "reach (comma separated, as the webhooks name them); a record is confirmed only once "
        "each reported success. Unset: every destination a webhook names.",
    )
    mapping_dir: str | None = Field(
        default=None,
        description="BOSS_INSIGHTS_MAPPING_DIR: a folder of your own `<asset>.fields.toml` CDM "
        "field mappings (e.g. vendors.fields.toml), used instead of the packaged ones in "
        "p2p_assets/defs/boss_insights/queries/ for the assets it has a file for.",
    )
    webhook_tracking_id: str | None = _webhook(
        "TRACKING_ID", "where a webhook carries our X-Tracking-ID (default `data.trackingId,"
        "data.tracking_id,trackingId,tracking_id,header:x-tracking-id`; `header:<name>` reads a "
        "request header)",
    )  # fmt: skip
    webhook_sync_id: str | None = _webhook(
        "SYNC_ID",
        "where it carries the X-Sync-ID (default `data.syncId,data.sync_id,syncId,"
        "sync_id,header:x-sync-id`)",
    )
    webhook_outcome: str | None = _webhook(
        "OUTCOME", "where it carries the push's outcome (default `data.status,data.success`; "
        "every path present counts, the most cautious wins)",
    )  # fmt: skip
    webhook_message: str | None = _webhook(
        "MESSAGE", "the vendor's message (default `data.message,message`)"
    )
    webhook_destination: str | None = _webhook(
        "DESTINATION", "the application an event is about, when each destination has its own "
        "event (default `data.source,data.destination`)",
    )  # fmt: skip
    webhook_results: str | None = _webhook(
        "RESULTS", "a list of per-destination outcomes in one event (default `data.results`)"
    )
    webhook_result_outcome: str | None = _webhook(
        "RESULT_OUTCOME", "the outcome in each item of that list (default `status,success`)"
    )
    webhook_result_destination: str | None = _webhook(
        "RESULT_DESTINATION", "the destination in each item (default `source,destination`)"
    )
    webhook_result_message: str | None = _webhook(
        "RESULT_MESSAGE", "the message in each item (default `message,error`)"
    )
    webhook_success_values: str | None = _webhook(
        "SUCCESS_VALUES", "the outcomes that confirm, and only these do (default "
        "`success,succeeded,completed,true`)",
    )  # fmt: skip
    webhook_failure_values: str | None = _webhook(
        "FAILURE_VALUES", "the outcomes that are a failed push (default "
        "`failed,failure,error,errored,rejected,false`); any other is unknown_outcome",
    )  # fmt: skip
    webhook_pending_values: str | None = _webhook(
        "PENDING_VALUES", "outcomes that say the push is not done yet and settle nothing "
        "(default `pending,queued,processing,in_progress`)",
    )  # fmt: skip

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

    def update_method(self) -> UpdateMethod:
        """BOSS_INSIGHTS_UPDATE, read; a setting that cannot be read fails before anything."""
        try:
            return parse_update(self.update)
        except UpdateConfigError as exc:
            raise BossInsightsError(f"Boss Insights: {exc}") from None

    def webhook_layout(self) -> WebhookLayout:
        """Where the webhooks carry their ids and outcomes (the BOSS_INSIGHTS_WEBHOOK_*)."""
        default = WebhookLayout()
        settings_ = {}
        for name in WEBHOOK:
            value = getattr(self, f"webhook_{name}")
            if name.endswith("_values"):
                settings_[name] = layout.values(value, tuple(getattr(default, name)))
            else:
                settings_[name] = layout.paths(value, getattr(default, name))
        try:
            return WebhookLayout(**settings_, destinations=layout.paths(self.destinations, ()))
        except ValueError as exc:
            raise BossInsightsError(str(exc)) from None

    def mapping_file(self, packaged: Path) -> Path:
        """The CDM field mapping to use: the one of that name in BOSS_INSIGHTS_MAPPING_DIR, if
        there is one, else `packaged` (in `defs/boss_insights/queries/`)."""
        if self.mapping_dir:
            mine = Path(self.mapping_dir).expanduser() / packaged.name
            if mine.is_file():
                return mine
            if not Path(self.mapping_dir).expanduser().is_dir():
                raise BossInsightsError(
                    f"Boss Insights: BOSS_INSIGHTS_MAPPING_DIR={self.mapping_dir} is not a folder"
                )
        return packaged

    def created_id_paths(self) -> tuple[str, ...]:
        return layout.paths(self.id_path, ("id",))

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
    from p2p_assets.sandbox.boss_insights import BossInsightsSandbox, config_from_env

    state_dir = settings.sandbox_dir("boss_insights")
    with _sandbox_lock:
        key = str(state_dir)
        if key not in _sandboxes:
            username, password = webhook_credentials()
            receiver = WebhookServer(
                ("127.0.0.1", 0), EventStore(settings.webhook_store()), username, password
            )
            config = config_from_env(  # the P2P_SANDBOX_BOSS_INSIGHTS_* variants apply too
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
        **{name: plain(variable) for name, variable in OPTIONS.items()},
    )
