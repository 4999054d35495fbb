"""`p2p-assets`: the project's command line.

p2p-assets dev [--port 3000]         load what is new, then open the Dagster UI (sandbox by default)
p2p-assets sync [basware] [visma] [marts] [writeback]   load what is new, build the marts, write
                                    back; exit 1 on failure
                                    (writeback = workspace365 and boss_insights, each selectable)
p2p-assets sandbox serve basware     serve a vendor sandbox (basware, visma, workspace365,
                                    boss_insights) on a loopback port
p2p-assets webhooks serve            receive vendor webhooks (Basic auth) into data/webhooks/
p2p-assets basware redownload ID F   spend the last download of a file (a person's decision)
p2p-assets warehouse sources|adopt   where each vendor's data in the warehouse came from
p2p-assets visma skip FILE_ID        let later files load without one whose content Visma deleted
p2p-assets sql ["select ..."]        query the warehouse read-only (no query: a prompt)
p2p-assets outbox list|requeue TARGET   write-back records waiting for a person; send them again
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
from p2p_assets.serving import SANDBOX_PORTS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("basware", "visma", "marts", "writeback")
# What each `sync` argument touches, as `p2p_assets.live` names the vendors.
TOUCHES = {
    "basware": ("basware",),
    "visma": ("visma",),
    "marts": (),
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


def writeback_targets(vendors: list[str]) -> list[str]:
    return [t for v in vendors for t in TOUCHES[v] if t in ("workspace365", "boss_insights")]


def sync(vendors: list[str], verbose: bool = False, *, explicit: bool = True) -> int:
    """Run each vendor's sync; 0 when all succeeded, 1 when one failed, 2 for a configuration
    error (nothing ran). `explicit`: the vendors were named, so one not configured is an error;
    otherwise (everything) it is skipped."""
    import dagster as dg

    from p2p_assets.definitions import defs
    from p2p_assets.headless import (
        WRITEBACK_JOBS,
        publish_warehouse,
        recover_abandoned_runs,
        sync_basware,
        sync_marts,
        sync_visma,
        sync_writeback,
    )
    from p2p_assets.lib.locks import LockTimeout, file_lock

    home = prepare_dagster_home()
    ok = True
    syncs = {
        "basware": sync_basware,
        "visma": sync_visma,
        "marts": sync_marts,
        "writeback": sync_writeback,
        **{t: functools.partial(sync_writeback, targets=(t,)) for t in WRITEBACK_JOBS},
    }
    unknown = [v for v in vendors if v not in syncs]
    if unknown:
        known = ", ".join([*VENDORS, *WRITEBACK_JOBS])
        raise SystemExit(f"unknown vendor {', '.join(unknown)}; known: {known}")
    if configuration_problems(tuple(key for v in vendors for key in TOUCHES[v])):
        return CONFIGURATION_ERROR
    # The marts follow the loads and come before the write-back, which reads them; they are
    # built when what they read changed. `sync basware` alone loads Basware only.
    requested = set(vendors)
    if "writeback" in vendors or any(v in WRITEBACK_JOBS for v in vendors):
        vendors = [*dict.fromkeys([*vendors, "marts"])]
    order = {"basware": 0, "visma": 1, "marts": 2}
    vendors = sorted(vendors, key=lambda v: order.get(v, 3))
    runs = []
    for vendor in vendors:
        if vendor == "marts":
            runs.append((vendor, ()))
            continue
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
            if vendor == "marts" and explicit and "marts" in requested:
                run = functools.partial(sync_marts, force=True)  # asked for: built even if current
            elif vendor == "marts" and explicit and not requested & {"basware", "visma"}:
                # Only write-back asked for: only the marts it reads.
                jobs = [j for t in writeback_targets(vendors) for j in WRITEBACK_JOBS[t]]
                needed = [
                    k for j in jobs for k in defs.resolve_job_def(j).asset_layer.selected_asset_keys
                ]
                run = functools.partial(sync_marts, needed_by=needed)
            try:
                report = run(defs, instance, log_level="INFO" if verbose else "WARNING")
            except Exception as exc:  # one vendor down must not stop the others
                print(f"{vendor}: FAILED before loading anything: {exc}", flush=True)
                ok = False
                continue
            print(report.render(), flush=True)
            ok = ok and report.success
        published = publish_warehouse(defs, instance, only_if_due=False)
        if published is not None:
            print(published.render(), flush=True)
            ok = ok and published.success
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
        help="basware, visma, marts, writeback (default: all, in that order; the marts are "
        "built before any write-back); workspace365 or boss_insights for one write-back target",
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
    visma_parser = commands.add_parser("visma", help="Visma maintenance by a person")
    visma_commands = visma_parser.add_subparsers(dest="visma_command", required=True)
    skip_parser = visma_commands.add_parser(
        "skip", help="let the later files of a type load without this one (its content is lost)"
    )
    skip_parser.add_argument("file_id")
    skip_parser.add_argument(
        "--reason", default="content deleted by Visma after the retention month"
    )
    warehouse_parser = commands.add_parser("warehouse", help="where the warehouse's data came from")
    warehouse_commands = warehouse_parser.add_subparsers(dest="warehouse_command", required=True)
    warehouse_commands.add_parser("sources", help="show each vendor's recorded source")
    adopt_parser = warehouse_commands.add_parser(
        "adopt", help="record the configured source as that of the vendor's existing data"
    )
    adopt_parser.add_argument("vendor", choices=tuple(live.VENDORS))
    sql_parser = commands.add_parser(
        "sql",
        help="query the warehouse read-only; without a query, an interactive prompt",
        description="Run a read-only query on the published warehouse, P2P_WAREHOUSE (default "
        "warehouse.duckdb in P2P_DATA_DIR, data/), and print the result; without a query, open a "
        "prompt (p2p>) where a statement ends with ';' or an empty line, .tables lists the "
        "tables and .quit or Ctrl-D leaves. Every input opens a fresh read-only connection and "
        "closes it, so each sees the newest published snapshot (SET and temporary tables last "
        "only for the statements sent together). Errors go to stderr, one line each, and exit 1; "
        "at the prompt the error is printed and the prompt goes on.",
    )
    sql_parser.add_argument("query", nargs="?", help="SQL; several statements run in order")
    sql_parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="default: table"
    )
    sql_parser.add_argument(
        "--max-rows",
        type=int,
        metavar="N",
        help="print at most N rows of a result, 0 for all (default: 40 for a table, all for csv "
        "and json)",
    )
    outbox_parser = commands.add_parser(
        "outbox", help="write-back records waiting for a person (list), sent again (requeue)"
    )
    outbox_commands = outbox_parser.add_subparsers(dest="outbox_command", required=True)
    target_help = (
        "the target as writeback.outbox names it, e.g. 'workspace365:Invoice exceptions' or "
        "boss_insights:vendor (an unknown one lists the known ones)"
    )
    list_parser = outbox_commands.add_parser(
        "list",
        help="show a target's records in a status, with their reasons",
        description="Print the records of a write-back target with their reasons: key, status, "
        "attempts, last error, field errors and when they last changed (UTC). Reads the "
        "pipeline's working warehouse, so it shows the newest state.",
    )
    list_parser.add_argument("target", help=target_help)
    list_parser.add_argument(
        "--status",
        action="append",
        metavar="S",
        help="a status to show, repeatable: pending, sending, sent, confirmed, rejected, "
        "uncertain, failed, ... (default: every status waiting for a person)",
    )
    requeue_parser = outbox_commands.add_parser(
        "requeue",
        help="send rejected, uncertain or failed records again on the next run",
        description="Put a target's rejected, uncertain or failed records (all of them, or those "
        "named with --key) back to pending: the next run sends them. Their attempts are kept and "
        "the last error says who re-queued them, when, and what it was. Re-queue an uncertain "
        "record only once you know the vendor does not hold it: it is created again. Writes the "
        "pipeline's working warehouse and publishes it (P2P_WAREHOUSE shows the change).",
    )
    requeue_parser.add_argument("target", help=target_help)
    requeue_parser.add_argument(
        "--status", required=True, metavar="S", help="rejected, uncertain or failed"
    )
    requeue_parser.add_argument(
        "--key",
        action="append",
        metavar="K",
        dest="keys",
        help="only this record (its record_key), repeatable; default: every one in --status",
    )
    webhooks_parser = commands.add_parser("webhooks", help="the webhook receiver")
    webhooks_commands = webhooks_parser.add_subparsers(dest="webhooks_command", required=True)
    receive_parser = webhooks_commands.add_parser(
        "serve",
        help="receive and store webhooks",
        description="Receive vendor webhooks (HTTP Basic: P2P_WEBHOOK_USERNAME and "
        "P2P_WEBHOOK_PASSWORD) and store each event once in data/webhooks/events.sqlite3 before "
        "answering 200. GET /healthz answers 200 for a load balancer. Limits: "
        "P2P_WEBHOOK_MAX_BODY_BYTES (default 1048576, 413 beyond), "
        "P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS (default 10, for the headers and again for the "
        "body), P2P_WEBHOOK_MAX_CONNECTIONS (default 4096, 503 beyond). SIGINT or SIGTERM "
        "finish the requests in flight, then exit 0.",
    )
    receive_parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    receive_parser.add_argument("--port", type=int, default=8780, help="default: 8780")
    args = parser.parse_args(argv)
    if args.command == "sql" and (args.max_rows or 0) < 0:
        parser.error("--max-rows must be 0 (all rows) or more")

    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        # Libraries that set their own loggers to INFO (dagster-dbt's) print only with -v; a
        # run's event log keeps them either way.
        handler.setLevel(level)
    if args.command == "dev":
        return dev(args.port, args.no_sync)
    if args.command == "sync":
        return sync(args.vendors or list(VENDORS), args.verbose, explicit=bool(args.vendors))
    if args.command == "sql":
        from p2p_assets import querying

        if args.query is None:
            return querying.shell(args.format, args.max_rows)
        return querying.query(args.query, args.format, args.max_rows)
    if args.command == "webhooks":
        from p2p_assets.serving import serve_webhooks

        return serve_webhooks(args.host, args.port)
    if args.command in ("basware", "visma", "warehouse", "outbox"):
        from p2p_assets import maintenance

        if args.command == "outbox":
            if args.outbox_command == "list":
                return maintenance.list_outbox(args.target, args.status)
            return maintenance.requeue_outbox(args.target, args.status, args.keys)
        if args.command == "visma":
            return maintenance.skip_visma_file(args.file_id, args.reason)
        if args.command == "basware":
            return maintenance.redownload_basware(args.extract_id, args.files, verbose=args.verbose)
        if args.warehouse_command == "adopt":
            return maintenance.adopt(args.vendor)
        return maintenance.list_sources()
    from p2p_assets.serving import serve_sandbox

    return serve_sandbox(args.vendor, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
