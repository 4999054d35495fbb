"""`p2p-assets`: the project's command line.

p2p-assets dev [--port 3000]         load what is new, then open the Dagster UI (sandbox by default)
p2p-assets sync [basware] [visma] [writeback]   load what is new, then write back; exit 1 on failure
                                    (writeback = workspace365 and boss_insights, each selectable)
p2p-assets sandbox serve basware     serve a vendor sandbox (basware, visma, workspace365,
                                    boss_insights) on a loopback port
p2p-assets webhooks serve            receive vendor webhooks (Basic auth) into data/webhooks/
p2p-assets basware redownload ID F   spend the last download of a file (a person's decision)
p2p-assets warehouse sources|adopt   where each vendor's data in the warehouse came from
"""

import argparse
import contextlib
import functools
import logging
import os
import shutil
import sys
from pathlib import Path

from p2p_assets import live, settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("basware", "visma", "writeback")
# What each `sync` argument touches, as `p2p_assets.live` names the vendors.
TOUCHES = {
    "basware": ("basware",),
    "visma": ("visma",),
    "writeback": ("workspace365", "boss_insights"),
    "workspace365": ("workspace365",),
    "boss_insights": ("boss_insights",),
}
CONFIGURATION_ERROR = 2


def configuration_problems(keys: tuple[str, ...]) -> list[str]:
    """Every incomplete or unsafe live configuration among `keys`, printed before anything runs:
    a vendor never starts half-configured, and never falls back to its sandbox."""
    problems = live.configuration_errors(keys)
    for problem in problems:
        print(f"p2p-assets: {problem}", file=sys.stderr, flush=True)
    return problems


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at `{P2P_DATA_DIR}/dagster` (unless set), with our dagster.yaml in it."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    committed = PROJECT_ROOT / "dagster.yaml"
    installed = home / "dagster.yaml"
    if committed.exists() and (
        not installed.exists() or installed.read_bytes() != committed.read_bytes()
    ):
        shutil.copyfile(committed, installed)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def sync(vendors: list[str], verbose: bool = False, *, explicit: bool = True) -> int:
    """Run each vendor's sync; 0 when all succeeded, 1 when one failed, 2 for a configuration
    error (nothing ran). `explicit`: the vendors were named, so one not configured is an error;
    otherwise (everything) it is skipped."""
    import dagster as dg

    from p2p_assets.definitions import defs
    from p2p_assets.headless import (
        WRITEBACK_JOBS,
        recover_abandoned_runs,
        sync_basware,
        sync_visma,
        sync_writeback,
    )
    from p2p_assets.lib.locks import LockTimeout, file_lock

    home = prepare_dagster_home()
    ok = True
    syncs = {
        "basware": sync_basware,
        "visma": sync_visma,
        "writeback": sync_writeback,
        **{t: functools.partial(sync_writeback, targets=(t,)) for t in WRITEBACK_JOBS},
    }
    unknown = [v for v in vendors if v not in syncs]
    if unknown:
        known = ", ".join([*VENDORS, *WRITEBACK_JOBS])
        raise SystemExit(f"unknown vendor {', '.join(unknown)}; known: {known}")
    if configuration_problems(tuple(key for v in vendors for key in TOUCHES[v])):
        return CONFIGURATION_ERROR
    runs = []
    for vendor in vendors:
        targets = tuple(k for k in TOUCHES[vendor] if live.mode_from_env(k) is not live.Mode.OFF)
        if targets:
            runs.append((vendor, targets))
            continue
        spec = live.VENDORS[TOUCHES[vendor][0]]
        if explicit:
            print(
                f"p2p-assets: {vendor} is not configured: another vendor is live, so it does not "
                f"fall back to its sandbox; set {spec.describe_required()}",
                file=sys.stderr,
            )
            return CONFIGURATION_ERROR
        print(f"{vendor}: not configured (another vendor is live); skipped", flush=True)
    # One headless sync at a time. Before loading, free what dead runs hold (a killed sync's,
    # a UI or daemon run's whose worker is gone), so no run of ours waits for them.
    from p2p_assets.defs.operations.waiting import WAIT_VARIABLE
    from p2p_assets.defs.operations.watchdog import pool_wait_seconds

    lock, limit = home / "p2p-assets-sync.lock", pool_wait_seconds()

    def waiting(seconds: float) -> None:
        print(
            f"waiting for another p2p-assets sync to finish ({lock} is locked) for {seconds:.0f} s;"
            f" gives up after {limit:.0f} s ({WAIT_VARIABLE})",
            flush=True,
        )

    held = contextlib.ExitStack()
    try:
        held.enter_context(file_lock(lock, waiting=waiting, give_up_after=limit))
    except LockTimeout:
        print(
            f"p2p-assets: gave up waiting for another p2p-assets sync after {limit:.0f} s "
            f"({lock} stayed locked; {WAIT_VARIABLE})",
            file=sys.stderr,
        )
        return 1
    with held, dg.DagsterInstance.get() as instance:
        for recovered in recover_abandoned_runs(instance):
            print(f"Recovered {recovered}", flush=True)
        for vendor, targets in runs:
            run = syncs[vendor]
            if vendor == "writeback":
                run = functools.partial(sync_writeback, targets=targets)
            try:
                report = run(defs, instance, log_level="INFO" if verbose else "WARNING")
            except Exception as exc:  # one vendor down must not stop the others
                print(f"{vendor}: FAILED before loading anything: {exc}", flush=True)
                ok = False
                continue
            print(report.render(), flush=True)
            ok = ok and report.success
    return 0 if ok else 1


def dev(port: int, skip_sync: bool) -> int:
    if configuration_problems(tuple(live.VENDORS)):
        return CONFIGURATION_ERROR
    home = prepare_dagster_home()
    if not skip_sync:
        print("Loading what is new before the UI starts (p2p-assets sync) ...", flush=True)
        if sync(list(VENDORS), explicit=False):
            print("Some extracts failed; the UI shows why.", flush=True)
    else:
        # The sync would have freed what dead runs hold; the UI's first runs should not wait for
        # the daemon's first `abandoned_runs_sensor` tick.
        import dagster as dg

        from p2p_assets.headless import recover_abandoned_runs

        with dg.DagsterInstance.get() as instance:
            for recovered in recover_abandoned_runs(instance):
                print(f"Recovered {recovered}", flush=True)
    print(f"Dagster UI on http://127.0.0.1:{port} (instance in {home})", flush=True)
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    os.chdir(PROJECT_ROOT)
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)])
    return 0  # not reached


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


def serve_visma_sandbox(host: str, port: int) -> int:
    from p2p_assets.sandbox.visma import VismaSandbox
    from p2p_assets.sandbox.visma.env import SANDBOX_CREDENTIALS, config_from_env

    state_dir = settings.sandbox_dir("visma")
    state_dir.mkdir(parents=True, exist_ok=True)
    sandbox = VismaSandbox(config_from_env(), state_dir)

    def ready(url: str) -> None:
        print(
            f"serving visma on {url}\n"
            f"  export VISMA_API_URL={url}/v1.0\n"
            f"  export VISMA_TOKEN_URL={url}/connect/token\n"
            f"  export VISMA_CLIENT_ID={SANDBOX_CREDENTIALS['client_id']}\n"
            f"  export VISMA_CLIENT_SECRET={SANDBOX_CREDENTIALS['client_secret']}\n"
            f"  export VISMA_TENANT_ID={SANDBOX_CREDENTIALS['tenant_id']}\n"
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
        BossInsightsConfig,
        BossInsightsSandbox,
    )

    webhook_url = os.environ.get("P2P_SANDBOX_BOSS_INSIGHTS_WEBHOOK_URL") or "http://127.0.0.1:8780"
    username, password = webhook_credentials()
    config = BossInsightsConfig(
        webhook_url=webhook_url, webhook_username=username, webhook_password=password
    )
    sandbox = BossInsightsSandbox(config, settings.sandbox_dir("boss_insights"))

    def ready(url: str) -> None:
        print(
            f"serving boss_insights on {url}\n"
            f"  pushing webhooks to {webhook_url}\n"
            f"  export BOSS_INSIGHTS_URL={url}/api\n"
            f"  export BOSS_INSIGHTS_USERNAME={SANDBOX_CREDENTIALS['username']}\n"
            f"  export BOSS_INSIGHTS_PASSWORD={SANDBOX_CREDENTIALS['password']}\n"
            f"  export BOSS_INSIGHTS_ACCOUNT_KEY={SANDBOX_CREDENTIALS['account_key']}\n"
            f"  export BOSS_INSIGHTS_VENDOR_PATH={SANDBOX_PATHS['vendor']}\n"
            f"  export BOSS_INSIGHTS_PAYABLE_INVOICE_PATH={SANDBOX_PATHS['payable_invoice']}\n"
            f"  (sandbox credentials, not secrets; run `p2p-assets webhooks serve` to receive the "
            f"webhooks; Ctrl-C stops it)",
            flush=True,
        )

    sandbox.serve_forever(host, port, ready)
    return 0


def serve_webhooks(host: str, port: int) -> int:
    from p2p_assets.lib.webhooks.receiver import EventStore, WebhookServer

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
    store = EventStore(settings.webhook_store())
    server = WebhookServer((host, port), store, username or "", password or "")
    bound_host, bound_port = server.server_address[:2]
    print(
        f"Webhook receiver on http://{bound_host}:{bound_port} storing into {store.path}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="p2p-assets", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    dev_parser = commands.add_parser("dev", help="load what is new, then start the Dagster UI")
    dev_parser.add_argument("--port", type=int, default=3000)
    dev_parser.add_argument("--no-sync", action="store_true", help="start the UI straight away")
    sync_parser = commands.add_parser("sync", help="materialise everything new, headless")
    sync_parser.add_argument(
        "vendors",
        nargs="*",
        metavar="vendor",
        help="basware, visma, writeback (default: all, in that order); workspace365 or "
        "boss_insights for one write-back target",
    )
    sandbox_parser = commands.add_parser("sandbox", help="vendor simulators")
    sandbox_commands = sandbox_parser.add_subparsers(dest="sandbox_command", required=True)
    serve_parser = sandbox_commands.add_parser("serve", help="serve a vendor sandbox")
    serve_parser.add_argument("vendor", nargs="?", default="basware", choices=tuple(SANDBOX_PORTS))
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument(
        "--port",
        type=int,
        help="0 for an ephemeral port (the first line printed names it); default "
        + ", ".join(f"{p} ({v})" for v, p in SANDBOX_PORTS.items()),
    )
    basware_parser = commands.add_parser("basware", help="Basware maintenance by a person")
    basware_commands = basware_parser.add_subparsers(dest="basware_command", required=True)
    redownload_parser = basware_commands.add_parser(
        "redownload", help="spend the last download of files of an extract, then load it"
    )
    redownload_parser.add_argument("extract_id")
    redownload_parser.add_argument("files", nargs="+", metavar="file")
    warehouse_parser = commands.add_parser("warehouse", help="where the warehouse's data came from")
    warehouse_commands = warehouse_parser.add_subparsers(dest="warehouse_command", required=True)
    warehouse_commands.add_parser("sources", help="show each vendor's recorded source")
    adopt_parser = warehouse_commands.add_parser(
        "adopt", help="record the configured source as that of the vendor's existing data"
    )
    adopt_parser.add_argument("vendor", choices=tuple(live.VENDORS))
    webhooks_parser = commands.add_parser("webhooks", help="the webhook receiver")
    webhooks_commands = webhooks_parser.add_subparsers(dest="webhooks_command", required=True)
    receive_parser = webhooks_commands.add_parser("serve", help="receive and store webhooks")
    receive_parser.add_argument("--host", default="127.0.0.1")
    receive_parser.add_argument("--port", type=int, default=8780)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "dev":
        return dev(args.port, args.no_sync)
    if args.command == "sync":
        return sync(args.vendors or list(VENDORS), args.verbose, explicit=bool(args.vendors))
    if args.command == "webhooks":
        return serve_webhooks(args.host, args.port)
    if args.command in ("basware", "warehouse"):
        from p2p_assets import maintenance

        if args.command == "basware":
            return maintenance.redownload_basware(args.extract_id, args.files, verbose=args.verbose)
        if args.warehouse_command == "adopt":
            return maintenance.adopt(args.vendor)
        return maintenance.list_sources()
    return serve_sandbox(args.vendor, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
