"""Benchmark: Boss Insights write-back through the outbox, against the Boss Insights sandbox.

Builds a warehouse with `--suppliers` Basware suppliers and `--invoices` invoices (synthetic rows
in `basware.adm_supplier` and `basware.ia_invoice`), serves the Boss Insights sandbox and the
webhook receiver as their own processes (`p2p-assets sandbox serve boss_insights`, `p2p-assets
webhooks serve`), as in production where the vendor is remote, and points `BOSS_INSIGHTS_*` at
them. Then runs `p2p-assets sync boss_insights`'s code path three times, each through Dagster
(plan, send with the journal, apply, fold the webhooks that have arrived):

  1. everything new: records written per second (target: at least 100 records/s);
  2. nothing changed: the time a no-op run costs, that it writes nothing (target: 0 writes), and
     that every record is now `confirmed` by its webhook (target: all);
  3. 10% of the invoices paid: only those are written again.

    python benchmarks/writeback.py                          # 500 suppliers, 5,000 invoices
    python benchmarks/writeback.py --invoices 20000

The script always exits 0; each target is marked PASS or MISS.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RECORDS_PER_SECOND = 100


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
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="p2p-writeback-bench-"))
    os.environ["P2P_DATA_DIR"] = str(work)
    os.environ["DAGSTER_HOME"] = str(work / "dagster")
    for name in list(os.environ):
        if name.startswith(("BOSS_INSIGHTS_", "P2P_WEBHOOK_", "P2P_WAREHOUSE")):
            del os.environ[name]
    build_warehouse(work / "warehouse.duckdb", args.suppliers, args.invoices)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import duckdb

    from p2p_assets.cli import sync
    from p2p_assets.defs.boss_insights.resources import SANDBOX_PATHS
    from p2p_assets.sandbox.boss_insights import (
        SANDBOX_CREDENTIALS,
        BossInsightsConfig,
        BossInsightsSandbox,
    )

    api_port, hook_port = _free_port(), _free_port()
    os.environ.update(
        P2P_WEBHOOK_USERNAME="bench-hooks",
        P2P_WEBHOOK_PASSWORD="bench-hooks-password",
        P2P_SANDBOX_BOSS_INSIGHTS_WEBHOOK_URL=f"http://127.0.0.1:{hook_port}",
    )
    cli = [sys.executable, "-m", "p2p_assets.cli"]
    servers = [
        subprocess.Popen([*cli, "sandbox", "serve", "boss_insights", "--port", str(api_port)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen([*cli, "webhooks", "serve", "--port", str(hook_port)],
                         stdout=subprocess.DEVNULL),
    ]  # fmt: skip
    os.environ.update(
        BOSS_INSIGHTS_URL=f"http://127.0.0.1:{api_port}/api",
        BOSS_INSIGHTS_USERNAME=SANDBOX_CREDENTIALS["username"],
        BOSS_INSIGHTS_PASSWORD=SANDBOX_CREDENTIALS["password"],
        BOSS_INSIGHTS_ACCOUNT_KEY=SANDBOX_CREDENTIALS["account_key"],
        BOSS_INSIGHTS_VENDOR_PATH=SANDBOX_PATHS["vendor"],
        BOSS_INSIGHTS_PAYABLE_INVOICE_PATH=SANDBOX_PATHS["payable_invoice"],
    )
    _wait_for(api_port)
    _wait_for(hook_port)
    try:
        _run(work, args, sync, duckdb, BossInsightsConfig, BossInsightsSandbox)
    finally:
        for server in servers:
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


def _run(work, args, sync, duckdb, BossInsightsConfig, BossInsightsSandbox) -> None:  # noqa: N803

    def writes() -> int:
        state = BossInsightsSandbox(BossInsightsConfig(), work / "sandbox" / "boss_insights")
        return len(state.writes())

    def statuses() -> dict[str, int]:
        with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
            return dict(con.execute(
                "SELECT status, count(*) FROM writeback.outbox GROUP BY 1"
            ).fetchall())  # fmt: skip

    total = args.suppliers + args.invoices
    print(f"Boss Insights write-back of {args.suppliers:,} vendors + {args.invoices:,} invoices "
          f"({work})", flush=True)  # fmt: skip

    started = time.perf_counter()
    assert sync(["boss_insights"]) == 0
    first = time.perf_counter() - started
    rate = total / first
    print(f"1. all new:   {first:7.1f} s, {rate:,.0f} records/s "
          f"[{_mark(rate >= TARGET_RECORDS_PER_SECOND)} >= {TARGET_RECORDS_PER_SECOND}]; "
          f"outbox {statuses()}")  # fmt: skip

    from p2p_assets import settings
    from p2p_assets.lib.webhooks.receiver import EventStore

    deadline = time.monotonic() + 120  # the webhooks of the last writes may still be on their way
    while EventStore(settings.webhook_store()).last_seq() < total and time.monotonic() < deadline:
        time.sleep(0.5)
    before = writes()
    started = time.perf_counter()
    assert sync(["boss_insights"]) == 0
    second = time.perf_counter() - started
    counts = statuses()
    print(f"2. unchanged: {second:7.1f} s, {writes() - before} writes "
          f"[{_mark(writes() == before)} 0]; outbox {counts} "
          f"[{_mark(counts.get('confirmed') == total)} all confirmed]")  # fmt: skip

    changed = args.invoices // 10
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
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
