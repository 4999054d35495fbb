"""Benchmark: what publishing the warehouse costs (issue 10).

The pipeline writes a private working file and publishes `P2P_WAREHOUSE` as a read-only copy of
it (`p2p_assets/lib/warehouse/snapshots.py`): a checkpoint, a copy of the whole file, fsync and a
rename, so a publish costs in proportion to the warehouse's size. This script measures:

(1) `snapshots.publish` of working files of `--sizes` (default 100MB,1GB,5GB), built with DuckDB
    from random UUIDs and integers (data that does not compress, so the file is as big as it says;
    the actual size is printed): the first publish, then a second after a 1,000-row insert, with
    MB/s, and the share of time the batching rule (`snapshots.due`) lets publishing take while
    runs commit continuously (informational).
(2) Basware: `basware_load.py`'s (b), `dg.materialize` of a `--rows` (default 1,000,000)
    IA_INVOICE_ROW partition into a fresh warehouse, then the publish `p2p-assets sync` ends with
    (the `warehouse_publish_job` run), in the same process. Share: publish time / load time.
(3) Visma: `visma_transfer.py`'s backfill of `--files` (default 1,000) files, as `p2p-assets sync
    visma` runs it: `sync_visma` publishes between its runs when due, and the sync publishes at
    its end. Every `publish_warehouse` call is timed (a publish run with its Dagster overhead, or
    the check that finds none due). Share: that time / the rest of the backfill's wall time.

Target: publishing adds at most 10 % to either run. The script always exits 0. `--before SIZE`
(informational) runs (2) and (3) on a warehouse that already holds SIZE of other data: a publish
copies the whole file, so the share grows with the warehouse, not with the run.

    python benchmarks/publish.py                                   # full size, ~20 minutes
    python benchmarks/publish.py --sizes 100MB --rows 100000 --files 50   # smoke, ~1 minute
    python benchmarks/publish.py --skip-visma --skip-basware --sizes 1GB,5GB --keep
    python benchmarks/publish.py --skip-sizes --before 5GB        # the runs on a 5 GB warehouse
"""

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import basware_load
import visma_transfer

TARGET_SHARE = 0.10
# Random UUIDs and integers: DuckDB cannot compress them, so the file is as big as its rows.
FILL = (
    "INSERT INTO filler SELECT i, gen_random_uuid(), gen_random_uuid(), "
    "(random() * 9e18)::BIGINT FROM range(?, ?) t(i)"
)
_UNITS = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _mb(size: float) -> float:
    return size / 1e6


def parse_size(text: str) -> int:
    found = re.fullmatch(r"\s*([\d.]+)\s*([KMG]I?B)\s*", text.upper())
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 100MB, 1GB, 5GB)")
    return int(float(found[1]) * _UNITS[found[2]])


def say(text: str) -> None:
    print(text, flush=True)


# -- (1) publish time by warehouse size ---------------------------------------------------------


def build_working(path: Path, target: int) -> tuple[int, float]:
    """A DuckDB file of at least `target` bytes, filled in chunks sized from the first one."""
    import duckdb

    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET memory_limit = '4GB'")
    con.execute("CREATE TABLE filler (id BIGINT, a UUID, b UUID, n BIGINT)")
    done, chunk = 0, 1_000_000
    while True:
        con.execute(FILL, [done, done + chunk])
        done += chunk
        con.execute("CHECKPOINT")
        size = path.stat().st_size
        if size >= target:
            break
        per_row = size / done
        chunk = max(100_000, min(25_000_000, math.ceil((target - size) / per_row)))
    con.close()
    return path.stat().st_size, time.perf_counter() - started


def change_a_little(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    start = con.execute("SELECT max(id) + 1 FROM filler").fetchone()[0]
    con.execute(FILL, [start, start + 1000])
    con.close()


def timed_publish(where) -> dict[str, Any]:
    from p2p_assets.lib.warehouse import snapshots

    started = time.perf_counter()
    state = snapshots.publish(where)
    seconds = time.perf_counter() - started
    if state is None:
        raise RuntimeError(f"nothing published from {where.working}")
    return {"seconds": seconds, "copy_s": state.seconds, "bytes": state.bytes}


def batching_share(publish_s: float, copy_s: float, interval: float) -> float:
    """While runs commit all the time, `snapshots.due` publishes again `max(interval, 9 x the
    copy's duration)` after a publish ends: publishing takes this share of the time."""
    from p2p_assets.lib.warehouse import snapshots

    return publish_s / (publish_s + max(interval, snapshots.COST_FACTOR * copy_s))


def bench_size(target: int, work: Path, keep: bool) -> dict[str, Any] | None:
    from p2p_assets.lib.warehouse import snapshots

    label = f"{_mb(target):g}MB" if target < 1e9 else f"{target / 1e9:g}GB"
    free = shutil.disk_usage(work).free
    if free < 3.2 * target:  # the working file, the snapshot, the next snapshot's temporary
        say(f"  {label}: skipped, {_mb(free):,.0f} MB free, {_mb(3.2 * target):,.0f} needed")
        return None
    where = snapshots.layout(work / f"size-{label}" / "warehouse.duckdb")
    say(f"  {label}: building the working file ...")
    size, build_s = build_working(where.working, target)
    say(f"  {label}: {_mb(size):,.1f} MB built in {build_s:.1f} s (not measured); publishing ...")
    first = timed_publish(where)
    say(f"  {label}: first publish {first['seconds']:.2f} s; a 1,000-row insert, then again ...")
    change_a_little(where.working)
    second = timed_publish(where)
    published = where.published.stat().st_size
    say(f"  {label}: second publish {second['seconds']:.2f} s ({_mb(published):,.1f} MB)")
    if not keep:
        shutil.rmtree(where.published.parent, ignore_errors=True)
    return {"label": label, "bytes": size, "build_s": build_s, "first": first, "second": second}


def seed(published: Path, size: int) -> None:
    """`--before SIZE`: the working file already holds `size` of other data, not yet published (as
    when the last publish was long ago: the first run's publish is due at once)."""
    if size:
        from p2p_assets.lib.warehouse import snapshots

        built, seconds = build_working(snapshots.layout(published).working, size)
        say(f"  seeded the warehouse with {_mb(built):,.1f} MB in {seconds:.1f} s (not measured)")


def report_sizes(results: list[dict[str, Any]], interval: float) -> None:
    say("")
    say("(1) snapshots.publish by warehouse size (checkpoint + copy + fsync + rename; MB/s of the")
    say(f"    whole call; batching share: publish / (publish + max({interval:g} s, 9 x copy)))")
    header = (
        f"{'size':>6} {'file MB':>9} {'1st publish s':>13} {'MB/s':>6} "
        f"{'2nd publish s':>13} {'MB/s':>6} {'copy s':>7} {'batching share':>14}"
    )
    say(header)
    say("-" * len(header))
    for r in results:
        first, second = r["first"], r["second"]
        share = batching_share(second["seconds"], second["copy_s"], interval)
        say(
            f"{r['label']:>6} {_mb(r['bytes']):9,.1f} {first['seconds']:13.2f} "
            f"{_mb(first['bytes']) / first['seconds']:6.0f} {second['seconds']:13.2f} "
            f"{_mb(second['bytes']) / second['seconds']:6.0f} {second['copy_s']:7.2f} "
            f"{share:13.1%}  (informational)"
        )


# -- (2) Basware: the 1,000,000-row load, then its publish --------------------------------------


def bench_basware(
    rows: int, file_format: str, work: Path, keep: bool, before: int
) -> dict[str, Any]:
    base = work / f"basware-{file_format}"
    base.mkdir(parents=True, exist_ok=True)
    seed(base / "db" / "warehouse.duckdb", before)
    say(f"  [{file_format}] generating {rows:,} IA_INVOICE_ROW records and landing them ...")
    prepared = basware_load.prepare(rows, file_format, base)
    partition = basware_load.rows_only_partition(prepared, file_format)
    say(f"  [{file_format}] landed in {prepared['download_s']:.1f} s (not measured); loading ...")
    result = basware_load.run_step(
        "materialize",
        {
            "data_dir": str(prepared["data_dir"]),
            "warehouse": str(base / "db" / "warehouse.duckdb"),
            "partition": partition,
            "publish": True,
            "result": str(base / ".result-publish.json"),
        },
    )
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    if "error" in result or not result.get("success") or not result["publish"]["success"]:
        say(f"  [{file_format}] FAILED: {result.get('error', 'the load or its publish failed')}")
        return {"format": file_format, "error": True}
    publish = result["publish"]
    say(
        f"  [{file_format}] load {result['seconds']:.2f} s ({result['records']:,} records), "
        f"publish {publish['seconds']:.2f} s ({_mb(publish['bytes']):,.1f} MB)"
    )
    return {"format": file_format, **result}


def report_basware(rows: int, results: list[dict[str, Any]], before: int) -> None:
    into = f"a warehouse of {_mb(before):,.0f} MB" if before else "a fresh warehouse"
    say("")
    say(f"(2) Basware {rows:,}-row load into {into} (basware_load.py (b): dg.materialize")
    say("    basware_tables), then the publish run p2p-assets sync ends with (same process)")
    header = (
        f"{'format':>6} {'load s':>8} {'publish s':>9} {'copy s':>7} {'warehouse MB':>12} "
        f"{'share':>7}"
    )
    say(header)
    say("-" * len(header))
    for r in results:
        if r.get("error"):
            say(f"{r['format']:>6} FAILED")
            continue
        p = r["publish"]
        say(
            f"{r['format']:>6} {r['seconds']:8.2f} {p['seconds']:9.2f} {p['copy_s']:7.2f} "
            f"{_mb(p['bytes']):12,.1f} {p['seconds'] / r['seconds']:7.1%}"
        )


# -- (3) Visma: the 1,000-file backfill with its publishes --------------------------------------


def published_now(report) -> Any:
    """The snapshot a `publish_warehouse` call published, None if it published none."""
    if report is None or not report.success or not getattr(report, "now", True):
        return None
    return report.published


class TimedPublishes:
    """`sync(defs, instance)` for `visma_transfer.backfill`: `sync_visma` as `p2p-assets sync
    visma` runs it, every `publish_warehouse` call timed, then the sync's final publish."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def sync(self, defs, instance):
        from p2p_assets import headless

        real = headless.publish_warehouse

        def timed(*args: Any, **kwargs: Any):
            started = time.perf_counter()
            report = real(*args, **kwargs)
            state = published_now(report)
            self.calls.append(
                {
                    "seconds": time.perf_counter() - started,
                    "published": state is not None,
                    "copy_s": state.seconds if state else 0.0,
                    "bytes": state.bytes if state else 0,
                    "failed": bool(report and not report.success),
                }
            )
            return report

        # sync_visma looks publish_warehouse up in its module at each call: time it there.
        headless.publish_warehouse = timed
        try:
            report = headless.sync_visma(defs, instance)
            headless.publish_warehouse(defs, instance, only_if_due=False)  # as cli.sync ends
        finally:
            headless.publish_warehouse = real
        return report


def visma_child(args: dict[str, Any]) -> None:
    """The backfill in a process of its own: visma_transfer sets the environment the product's
    modules read when they are imported."""
    timer = TimedPublishes()
    figures = visma_transfer.backfill(args["files"], Path(args["work"]), "dagster", timer.sync)
    from p2p_assets.lib.warehouse import snapshots

    figures["calls_timed"] = timer.calls
    figures["interval"] = snapshots.interval_from_env()
    Path(args["result"]).write_text(json.dumps(figures))


def bench_visma(files: int, work: Path, before: int) -> dict[str, Any] | None:
    result = work / ".result-visma.json"
    spec = {"files": files, "work": str(work / "visma"), "result": str(result)}
    seed(work / "visma" / "backfill" / "warehouse.duckdb", before)  # where backfill puts it
    command = [sys.executable, __file__, "--visma-child", json.dumps(spec)]
    code = subprocess.run(command).returncode
    if code != 0 or not result.exists():
        say(f"  FAILED: the backfill process exited with {code}")
        return None
    return {**json.loads(result.read_text()), "before": before}


def visma_figures(r: dict[str, Any]) -> dict[str, float]:
    calls = r["calls_timed"]
    published = [c for c in calls if c["published"]]
    total = sum(c["seconds"] for c in calls)
    return {
        "publishes": len(published),
        "publish_s": sum(c["seconds"] for c in published),
        "copy_s": sum(c["copy_s"] for c in published),
        "checks": len(calls) - len(published),
        "check_s": total - sum(c["seconds"] for c in published),
        "total_s": total,
        "bytes": max((c["bytes"] for c in published), default=0),
        "failed": sum(c["failed"] for c in calls),
    }


def report_visma(files: int, r: dict[str, Any]) -> None:
    f = visma_figures(r)
    rest = r["seconds"] - f["total_s"]
    say("")
    say(f"(3) Visma {files:,}-file backfill (visma_transfer.py: sync_visma, spike arrest 0.6 s),")
    say(f"    publishing between runs when due (interval {r['interval']:g} s) and at the end")
    if r.get("before"):
        say(f"    on a warehouse already holding {_mb(r['before']):,.0f} MB of other data")
    say(
        f"  backfill wall time {r['seconds']:.1f} s, {r['loaded']:,} files loaded, "
        f"{r['failed']} failed, {r['files_per_minute']:.1f} files/minute, {r['throttled']} 429s"
    )
    say(
        f"  {f['publishes']} publish run(s): {f['publish_s']:.2f} s "
        f"({f['publish_s'] / max(1, f['publishes']):.2f} s each, of which copy "
        f"{f['copy_s'] / max(1, f['publishes']):.3f} s; final snapshot {_mb(f['bytes']):,.1f} MB)"
        f"; {f['checks']} check(s) that found none due: {f['check_s']:.2f} s"
        + (f"; {f['failed']} FAILED" if f["failed"] else "")
    )
    say(
        f"  publishing: {f['total_s']:.1f} s of {r['seconds']:.1f} s "
        f"({f['total_s'] / r['seconds']:.1%}); the rest {rest:.1f} s"
    )


# -- the run ------------------------------------------------------------------------------------


def summary(args: argparse.Namespace, basware: list[dict[str, Any]], visma: dict | None) -> None:
    say("")
    on = f" on {_mb(args.before):,.0f} MB of other data" if args.before else ""
    for r in basware:
        if r.get("error"):
            say(f"publish share of the Basware {args.rows:,}-row load{on} ({r['format']}): MISS")
            continue
        share = r["publish"]["seconds"] / r["seconds"]
        say(
            f"publish share of the Basware {args.rows:,}-row load{on} ({r['format']}): {share:.1%} "
            f"(publish {r['publish']['seconds']:.2f} s / load {r['seconds']:.2f} s; target "
            f"<= 10 %) {_mark(share <= TARGET_SHARE)}"
        )
    if visma is not None:
        f = visma_figures(visma)
        share = f["total_s"] / (visma["seconds"] - f["total_s"])
        ok = share <= TARGET_SHARE and not f["failed"] and not visma["failed"]
        say(
            f"publish share of the Visma {args.files:,}-file backfill{on}: {share:.1%} "
            f"(publishing {f['total_s']:.1f} s / the rest {visma['seconds'] - f['total_s']:.1f} s"
            f"; {f['total_s'] / visma['seconds']:.1%} of the wall time; target <= 10 %) "
            f"{_mark(ok)}"
        )
    elif not args.skip_visma:
        say(f"publish share of the Visma {args.files:,}-file backfill{on}: MISS (failed)")


def default_workdir() -> Path:
    """A temp dir beside the pipeline's data (same disk, so the copies are as in production)."""
    from p2p_assets import settings

    data = settings.data_dir()
    return Path(tempfile.mkdtemp(prefix="publish-bench-", dir=data if data.is_dir() else None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100MB,1GB,5GB", help="working file sizes")
    parser.add_argument("--rows", type=int, default=1_000_000, help="Basware IA_INVOICE_ROW rows")
    parser.add_argument("--formats", default="json,csv", help="Basware file formats")
    parser.add_argument("--files", type=int, default=1000, help="Visma files in the backfill")
    parser.add_argument(
        "--before",
        type=parse_size,
        default=0,
        help="informational: the Basware and Visma runs on a warehouse already holding this much",
    )
    parser.add_argument("--skip-sizes", action="store_true")
    parser.add_argument("--skip-basware", action="store_true")
    parser.add_argument("--skip-visma", action="store_true")
    parser.add_argument("--workdir", type=Path, help="default: a temp dir beside data/")
    parser.add_argument("--keep", action="store_true", help="keep the workdir and its files")
    parser.add_argument("--visma-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.visma_child:
        visma_child(json.loads(args.visma_child))
        return 0
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    work = (args.workdir or default_workdir()).resolve()
    work.mkdir(parents=True, exist_ok=True)
    import duckdb

    from p2p_assets.lib.warehouse import snapshots

    interval = snapshots.interval_from_env()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    say(
        f"Publish benchmark: workdir {work}, {os.cpu_count()} cores, DuckDB {duckdb.__version__}, "
        f"{snapshots.INTERVAL_VARIABLE} {interval:g} s, load average {load}"
    )
    by_size: list[dict[str, Any]] = []
    basware: list[dict[str, Any]] = []
    visma = None
    try:
        if not args.skip_sizes:
            say("(1) publish time by warehouse size:")
            by_size = [r for r in (bench_size(s, work, args.keep) for s in sizes) if r]
        if not args.skip_basware:
            say(f"(2) Basware {args.rows:,}-row load and its publish:")
            formats = [f.strip() for f in args.formats.split(",") if f.strip()]
            basware = [bench_basware(args.rows, f, work, args.keep, args.before) for f in formats]
        if not args.skip_visma:
            say(f"(3) Visma {args.files:,}-file backfill with its publishes:")
            visma = bench_visma(args.files, work, args.before)
        if by_size:
            report_sizes(by_size, interval)
        if basware:
            report_basware(args.rows, basware, args.before)
        if visma:
            report_visma(args.files, visma)
        summary(args, basware, visma)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        say(f"(load average at the end: {load})")
    finally:
        if not args.keep and not args.workdir:
            with contextlib.suppress(OSError):
                shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
