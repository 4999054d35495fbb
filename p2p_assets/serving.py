"""`p2p-assets sandbox serve` and `p2p-assets webhooks serve`: the vendor sandboxes and the webhook
receiver as processes of their own, in the foreground until SIGINT or SIGTERM."""

import os
import sys
from typing import TYPE_CHECKING

from p2p_assets import settings

if TYPE_CHECKING:
    from p2p_assets.lib.webhooks.receiver import Limits

CONFIGURATION_ERROR = 2


SANDBOX_PORTS = {"basware": 8765, "visma": 8766, "workspace365": 8767, "boss_insights": 8768}


def serve_sandbox(vendor: str, host: str, port: int | None) -> int:
    """Serve one vendor's sandbox in the foreground until SIGINT or SIGTERM (then exit 0).

    The first stdout line is exactly `serving <vendor> on http://HOST:PORT`, printed once the port
    is bound (so `--port 0` shows the real ephemeral port) and flushed: a test that runs this as a
    process reads its URL from that line. `port` None is the vendor's default port.
    """
    port = SANDBOX_PORTS[vendor] if port is None else port
    if vendor == "visma":
        return serve_visma_sandbox(host, port)
    if vendor == "workspace365":
        return serve_workspace365_sandbox(host, port)
    if vendor == "boss_insights":
        return serve_boss_insights_sandbox(host, port)
    from p2p_assets.sandbox.basware import BaswareSandbox
    from p2p_assets.sandbox.basware.env import SANDBOX_CREDENTIALS, config_from_env

    sandbox = BaswareSandbox(config_from_env(), state_dir=settings.sandbox_dir("basware"))

    def ready(url: str) -> None:
        storage = f"storage on {sandbox.storage_url}\n" if sandbox.storage_url else ""
        print(
            f"serving basware on {url}\n"
            f"{storage}"
            f"  export BASWARE_API_URL={url}\n"
            f"  export BASWARE_CLIENT_ID={SANDBOX_CREDENTIALS['client_id']}\n"
            f"  export BASWARE_CLIENT_SECRET={SANDBOX_CREDENTIALS['client_secret']}\n"
            f"  (sandbox credentials, not secrets; Ctrl-C stops it)",
            flush=True,
        )

    sandbox.serve_forever(host, port, ready)
    return 0


def _zoned(window: str) -> bool:
    """Whether a window names its zone (the sandbox reads one without as UTC)."""
    return not window.split()[-1][:1].isdigit()


def serve_visma_sandbox(host: str, port: int) -> int:
    from p2p_assets.sandbox.visma import VismaSandbox
    from p2p_assets.sandbox.visma.env import SANDBOX_CREDENTIALS, config_from_env

    state_dir = settings.sandbox_dir("visma")
    state_dir.mkdir(parents=True, exist_ok=True)
    sandbox = VismaSandbox(config_from_env(), state_dir)

    config = sandbox.config
    plan = f"  export VISMA_PLAN={config.plan}\n"
    if config.usage.windowed:  # the product must know the window it may call in
        window = config.window or "06:00-08:00"
        plan += f"  export VISMA_WINDOW='{window if _zoned(window) else window + ' UTC'}'\n"

    def ready(url: str) -> None:
        print(
            f"serving visma on {url}\n"
            f"  export VISMA_API_URL={url}/v1.0\n"
            f"  export VISMA_TOKEN_URL={url}/connect/token\n"
            f"  export VISMA_CLIENT_ID={SANDBOX_CREDENTIALS['client_id']}\n"
            f"  export VISMA_CLIENT_SECRET={SANDBOX_CREDENTIALS['client_secret']}\n"
            f"  export VISMA_TENANT_ID={SANDBOX_CREDENTIALS['tenant_id']}\n"
            f"{plan}"
            f"  (sandbox credentials, not secrets; Ctrl-C stops it)",
            flush=True,
        )

    sandbox.serve_forever(host, port, ready)
    return 0


def serve_workspace365_sandbox(host: str, port: int) -> int:
    from p2p_assets.sandbox.workspace365 import (
        SANDBOX_TOKEN,
        Workspace365Sandbox,
        Workspace365SandboxConfig,
    )

    sandbox = Workspace365Sandbox(Workspace365SandboxConfig(), settings.sandbox_dir("workspace365"))

    def ready(url: str) -> None:
        print(
            f"serving workspace365 on {url}\n"
            f"  export WORKSPACE365_URL={url}\n"
            f"  export WORKSPACE365_ENVIRONMENT=p2p\n"
            f"  export WORKSPACE365_TOKEN={SANDBOX_TOKEN}\n"
            f"  (sandbox credentials, not secrets; Ctrl-C stops it)",
            flush=True,
        )

    sandbox.serve_forever(host, port, ready)
    return 0


def serve_boss_insights_sandbox(host: str, port: int) -> int:
    from p2p_assets.defs.boss_insights.resources import SANDBOX_PATHS, webhook_credentials
    from p2p_assets.sandbox.boss_insights import (
        SANDBOX_CREDENTIALS,
        BossInsightsSandbox,
        config_from_env,
    )
    from p2p_assets.sandbox.boss_insights.config import WEBHOOK_LAYOUTS
    from p2p_assets.sandbox.boss_insights.env import webhook_url as configured_webhook_url

    webhook_url = configured_webhook_url()
    username, password = webhook_credentials()
    config = config_from_env(
        webhook_url=webhook_url, webhook_username=username, webhook_password=password
    )
    sandbox = BossInsightsSandbox(config, settings.sandbox_dir("boss_insights"))
    post = "upserts by external_id" if config.post_mode == "upsert" else "creates duplicates"
    put = "  export BOSS_INSIGHTS_UPDATE='PUT {path}/{id}'\n" if config.put_by_id else ""

    def ready(url: str) -> None:
        print(
            f"serving boss_insights on {url}\n"
            f"  pushing webhooks to {webhook_url} ({config.webhook_layout}: "
            f"{WEBHOOK_LAYOUTS[config.webhook_layout]}); destinations "
            f"{', '.join(config.destinations)}; a second POST {post}\n"
            f"  export BOSS_INSIGHTS_URL={url}/api\n"
            f"  export BOSS_INSIGHTS_USERNAME={SANDBOX_CREDENTIALS['username']}\n"
            f"  export BOSS_INSIGHTS_PASSWORD={SANDBOX_CREDENTIALS['password']}\n"
            f"  export BOSS_INSIGHTS_ACCOUNT_KEY={SANDBOX_CREDENTIALS['account_key']}\n"
            f"  export BOSS_INSIGHTS_VENDOR_PATH={SANDBOX_PATHS['vendor']}\n"
            f"  export BOSS_INSIGHTS_PAYABLE_INVOICE_PATH={SANDBOX_PATHS['payable_invoice']}\n"
            f"{put}"
            f"  (sandbox credentials, not secrets; run `p2p-assets webhooks serve` to receive the "
            f"webhooks; Ctrl-C stops it)",
            flush=True,
        )

    sandbox.serve_forever(host, port, ready)
    return 0


def serve_webhooks(host: str, port: int) -> int:
    """Serve the webhook receiver in the foreground until SIGINT or SIGTERM; exit 0 once the
    requests in flight are stored and answered.

    The first stdout line is `Webhook receiver on http://HOST:PORT storing into PATH`, printed once
    the port is bound (connections queue in the backlog from then on) and SIGTERM is handled.
    """
    from p2p_assets.lib.webhooks.receiver import EventStore, Limits, WebhookServer

    username = os.environ.get("P2P_WEBHOOK_USERNAME")
    password = os.environ.get("P2P_WEBHOOK_PASSWORD")
    missing = [
        n
        for n, v in (("P2P_WEBHOOK_USERNAME", username), ("P2P_WEBHOOK_PASSWORD", password))
        if not v
    ]
    if missing:
        print(
            f"p2p-assets: the webhook receiver needs {' and '.join(missing)}: the Basic "
            "credentials the vendor must send (configure the same in its portal)",
            file=sys.stderr,
        )
        return CONFIGURATION_ERROR
    try:
        limits = Limits.from_env(os.environ)
    except ValueError as exc:
        print(f"p2p-assets: {exc}", file=sys.stderr)
        return CONFIGURATION_ERROR
    limits = _within_open_files_limit(limits)
    store = EventStore(settings.webhook_store())
    server = WebhookServer((host, port), store, username or "", password or "", limits)

    def ready() -> None:
        print(
            f"Webhook receiver on {server.url} storing into {store.path}\n"
            f"  at most {limits.max_connections} connections, bodies up to "
            f"{limits.max_body_bytes} bytes, {limits.request_timeout:g} s for a request's "
            "headers and again for its body (SIGINT or SIGTERM: finish the requests in flight, "
            "then exit)",
            flush=True,
        )

    try:
        server.serve_forever(ready)
    finally:
        server.server_close()
    return 0


def _within_open_files_limit(limits: "Limits") -> "Limits":
    """Raise this process's open-file limit (often 1,024 by default) so that `max_connections`
    connections, the store and the listener fit; with a lower hard limit, accept fewer
    connections (and say so) rather than fail accepting them."""
    import dataclasses
    import resource

    spare = 64  # the listener, the SQLite files, logging, the thread pool's wake-up pipes
    wanted = limits.max_connections + spare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitting = max(1, soft - spare)
        print(
            f"p2p-assets: the open-file limit ({soft}) allows {fitting} webhook connections, "
            f"not {limits.max_connections} (raise `ulimit -Hn` or lower "
            "P2P_WEBHOOK_MAX_CONNECTIONS)",
            file=sys.stderr,
        )
        return dataclasses.replace(limits, max_connections=fitting)
    return limits
