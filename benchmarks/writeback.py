"""Benchmark: Boss Insights write-back through the outbox, against the Boss Insights sandbox.

Builds a warehouse with `--suppliers` Basware suppliers and `--invoices` invoices (synthetic rows
in `basware.adm_supplier` and `basware.ia_invoice`), serves the Boss Insights sandbox and the
webhook receiver as their own processes (`p2p-assets sandbox serve boss_insights`, `p2p-assets
webhooks serve`), as in production where the vendor is remote, and points `BOSS_INSIGHTS_*` at
them. The export views the write-back reads (dbt's `exports.boss_insights_vendors` and
`_payable_invoices`, the assets `marts/boss_insights_*`) are built once before the clock starts,
as a sync after the loads would. Then runs `p2p-assets sync boss_insights`'s code path three
times, each through Dagster (plan, send with the journal, record, fold the webhooks that have
arrived):

  1. everything new: records per second from the start of the sync until every record is
     `confirmed` by its webhook (target: at least 100 records/s), printed as `records/s: N` on a
     line of its own; the CPU seconds each process spent show where the time goes;
  2. nothing changed: the time a no-op run costs, and that it writes nothing (target: 0 writes);
  3. 10% of the invoices paid: only those are written again, as updates (`BOSS_INSIGHTS_UPDATE`
     `PUT {path}/{id}`, which the sandbox accepts).

    python benchmarks/writeback.py                          # 500 suppliers, 5,000 invoices
    python benchmarks/writeback.py --invoices 20000 --concurrency 8

`--concurrency` sets `BOSS_INSIGHTS_CONCURRENCY` (default: unset, the product's default of 4).
The script always exits 0; each target is marked PASS or MISS.
"""

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RECORDS_PER_SECOND = 100
CONFIRM_WAIT_SECONDS = 120


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def build_warehouse(path: Path, suppliers: int, invoices: int) -> None:
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA basware")
        con.execute(
            f"""CREATE TABLE basware.adm_supplier AS SELECT
                'SUP-' || i AS ID, 'S' || i AS SUPPLIER_CODE,
                'Supplier ' || i || ' BV' AS SUPPLIER_NAME,
                'NL' || lpad(i::VARCHAR, 9, '0') || 'B01' AS VAT_NUMBER, 'NL' AS COUNTRY_CODE,
                'Utrecht' AS CITY, '3511 AB' AS POSTAL_CODE, 30::BIGINT AS PAYMENT_TERM_DAYS,
                'EUR' AS CURRENCY_CODE, 0::BIGINT AS BLOCKED
            FROM range({suppliers}) t(i)"""
        )
        con.execute(
            f"""CREATE TABLE basware.ia_invoice AS SELECT
                'INV-' || i AS ID, 'SUP-' || (i % {suppliers}) AS SUPPLIER_ID,
                '2026-' || lpad(i::VARCHAR, 6, '0') AS INVOICE_NUMBER,
                DATE '2026-01-01' + (i % 300)::INTEGER AS INVOICE_DATE,
                DATE '2026-01-31' + (i % 300)::INTEGER AS DUE_DATE,
                CASE WHEN i % 7 = 0 THEN 'SEK' ELSE 'EUR' END AS CURRENCY_CODE,
                ((i * 37) % 100000 / 100)::DECIMAL(18, 2) AS NET_SUM,
                ((i * 37) % 100000 / 100 * 0.21)::DECIMAL(18, 2) AS TAX_SUM,
                ((i * 37) % 100000 / 100 * 1.21)::DECIMAL(18, 2) AS GROSS_SUM,
                'Approved' AS STATUS, NULL::DATE AS PAYMENT_DATE, NULL::DATE AS REMOVAL_DATE
            FROM range({invoices}) t(i)"""
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppliers", type=int, default=500)
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, help="BOSS_INSIGHTS_CONCURRENCY (default 4)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="p2p-writeback-bench-"))
    for name in list(os.environ):
        if name.startswith(("BOSS_INSIGHTS_", "P2P_", "DAGSTER_")):
            del os.environ[name]
    os.environ["P2P_DATA_DIR"] = str(work)
    os.environ["DAGSTER_HOME"] = str(work / "dagster")
    build_warehouse(work / "warehouse.duckdb", args.suppliers, args.invoices)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    from p2p_assets.defs.boss_insights.resources import SANDBOX_PATHS
    from p2p_assets.sandbox.boss_insights import SANDBOX_CREDENTIALS

    api_port, hook_port = _free_port(), _free_port()
    os.environ.update(
        P2P_WEBHOOK_USERNAME="bench-hooks",
        P2P_WEBHOOK_PASSWORD="bench-hooks-password",
        P2P_SANDBOX_BOSS_INSIGHTS_WEBHOOK_URL=f"http://127.0.0.1:{hook_port}",
    )
    cli = [sys.executable, "-m", "p2p_assets.cli"]
    servers = {
        "sandbox": subprocess.Popen(
            [*cli, "sandbox", "serve", "boss_insights", "--port", str(api_port)],
            stdout=subprocess.DEVNULL,
        ),
        "receiver": subprocess.Popen(
            [*cli, "webhooks", "serve", "--port", str(hook_port)], stdout=subprocess.DEVNULL
        ),
    }
    os.environ.update(
        BOSS_INSIGHTS_URL=f"http://127.0.0.1:{api_port}/api",
        BOSS_INSIGHTS_USERNAME=SANDBOX_CREDENTIALS["username"],
        BOSS_INSIGHTS_PASSWORD=SANDBOX_CREDENTIALS["password"],
        BOSS_INSIGHTS_ACCOUNT_KEY=SANDBOX_CREDENTIALS["account_key"],
        BOSS_INSIGHTS_VENDOR_PATH=SANDBOX_PATHS["vendor"],
        BOSS_INSIGHTS_PAYABLE_INVOICE_PATH=SANDBOX_PATHS["payable_invoice"],
        BOSS_INSIGHTS_UPDATE="PUT {path}/{id}",
    )
    if args.concurrency is not None:
        os.environ["BOSS_INSIGHTS_CONCURRENCY"] = str(args.concurrency)
    _wait_for(api_port)
    _wait_for(hook_port)
    try:
        _run(work, args, servers)
    finally:
        for server in servers.values():
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(work: Path, args: argparse.Namespace, servers: dict[str, subprocess.Popen]) -> None:
    import dagster as dg
    import duckdb

    from p2p_assets.cli import prepare_dagster_home, sync
    from p2p_assets.definitions import defs
    from p2p_assets.defs.boss_insights.assets import TARGETS
    from p2p_assets.defs.operations.watchdog import execute_in_process
    from p2p_assets.headless import sync_marts
    from p2p_assets.lib.warehouse import snapshots
    from p2p_assets.sandbox.boss_insights import BossInsightsConfig, BossInsightsSandbox

    def writes() -> int:
        state = BossInsightsSandbox(BossInsightsConfig(), work / "sandbox" / "boss_insights")
        return len(state.writes())

    def statuses() -> dict[str, int]:
        with duckdb.connect(str(working), read_only=True) as con:
            return dict(con.execute(
                "SELECT status, count(*) FROM writeback.outbox GROUP BY 1"
            ).fetchall())  # fmt: skip

    def fold() -> None:  # the webhooks that arrived since: what the daemon's sensor would run
        with dg.DagsterInstance.get() as instance:
            execute_in_process(
                defs.resolve_job_def("boss_insights_sync_events_job"), instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )  # fmt: skip

    working = snapshots.layout(work / "warehouse.duckdb").working
    total = args.suppliers + args.invoices
    concurrency = os.environ.get("BOSS_INSIGHTS_CONCURRENCY", "4 (the default)")
    print(f"Boss Insights write-back of {args.suppliers:,} vendors + {args.invoices:,} invoices, "
          f"{concurrency} at once, sandbox and receiver as processes ({work})",
          flush=True)  # fmt: skip

    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:  # views: step 3's change shows without a rebuild
        built = sync_marts(defs, instance, needed_by=[spec.key for spec in TARGETS])
    assert built.success, built.render()
    print(built.render(), flush=True)

    cpu_before = {name: _cpu_seconds(p.pid) for name, p in servers.items()}
    own_before = _own_cpu_seconds()
    started = time.perf_counter()
    assert sync(["boss_insights"]) == 0
    synced = time.perf_counter() - started
    deadline = time.monotonic() + CONFIRM_WAIT_SECONDS
    while statuses().get("confirmed", 0) < total and time.monotonic() < deadline:
        time.sleep(0.5)  # the last webhooks may still be on their way
        fold()
    elapsed = time.perf_counter() - started
    counts = statuses()
    confirmed = counts.get("confirmed", 0)
    rate = total / elapsed
    cpu = {name: _cpu_seconds(p.pid) - cpu_before[name] for name, p in servers.items()}
    cpu["pipeline"] = _own_cpu_seconds() - own_before
    print(f"1. all new:   sync {synced:6.1f} s, every record confirmed after {elapsed:6.1f} s; "
          f"outbox {counts}")  # fmt: skip
    print("   CPU seconds: " + ", ".join(f"{name} {s:.1f}" for name, s in cpu.items())
          + f" (2 cores: {2 * elapsed:.0f} available)")  # fmt: skip
    print(f"records/s: {rate:.1f}")
    print(f"   [{_mark(rate >= TARGET_RECORDS_PER_SECOND)}] at least {TARGET_RECORDS_PER_SECOND} "
          f"records/s: {rate:.1f}")  # fmt: skip
    print(f"   [{_mark(confirmed == total)}] every record confirmed: {confirmed:,} of {total:,}",
          flush=True)  # fmt: skip

    before = writes()
    started = time.perf_counter()
    assert sync(["boss_insights"]) == 0
    second = time.perf_counter() - started
    counts = statuses()
    print(f"2. unchanged: {second:7.1f} s, {writes() - before} writes "
          f"[{_mark(writes() == before)} 0]; outbox {counts} "
          f"[{_mark(counts.get('confirmed') == total)} all confirmed]", flush=True)  # fmt: skip

    changed = args.invoices // 10
    with duckdb.connect(str(working)) as con:  # the pipeline's working file, as a load would
        con.execute(
            "UPDATE basware.ia_invoice SET STATUS = 'Paid', PAYMENT_DATE = DATE '2026-11-20' "
            f"WHERE ID IN (SELECT ID FROM basware.ia_invoice ORDER BY ID LIMIT {changed})"
        )
    before = writes()
    started = time.perf_counter()
    assert sync(["boss_insights"]) == 0
    third = time.perf_counter() - started
    print(f"3. {changed:,} paid: {third:7.1f} s, {writes() - before:,} writes "
          f"[{_mark(writes() - before == changed)} {changed:,}]; outbox {statuses()}")  # fmt: skip


if __name__ == "__main__":
    main()
