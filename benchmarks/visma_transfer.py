"""Benchmark: Visma File API transfers under the vendor's limits, against the Visma sandbox.

(1) Backfill: `p2p-assets sync visma`'s code path (`sync_visma`: list every page, then one Dagster
    run per file: land, parse, commit) over N small files of one business type, with the sandbox's
    spike arrest ON at the vendor's one call per 0.6 s. A small file costs one call (a plain GET),
    so the spike arrest allows at most 100 files a minute. Reports files per minute (target: at
    least 85), API calls per file, and the 429s the sandbox answered (target: zero).
    `--via client` measures the bare client (list, then one GET per file) instead.
(2) Large file: one file of `--large-bytes` (default 2 GiB) downloaded by the client in 8 MB Range
    chunks, in a child process whose peak RSS (VmHWM) is reported (target: under 200 MiB); the
    sandbox serves from this process, so its memory does not count. Size and sha256 verified.

    python benchmarks/visma_transfer.py                        # 1,000 files (~21 min) + 2 GiB
    python benchmarks/visma_transfer.py --files 100 --skip-large
    python benchmarks/visma_transfer.py --skip-backfill --large-bytes 500000000

The script always exits 0; each target is marked PASS or MISS.
"""

import argparse
import hashlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
TARGET_FILES_PER_MINUTE = 85
TARGET_PEAK_MIB = 200


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- (1) backfill ---------------------------------------------------------------------------------


def backfill(files: int, work: Path, via: str, sync: Callable | None = None) -> dict[str, Any]:
    """The backfill's figures; `sync(defs, instance)` replaces `sync_visma` (benchmarks/publish.py
    passes one that also times the publishes and publishes at the end, as `p2p-assets sync` does).
    """
    data_dir = work / "backfill"
    os.environ.update(
        P2P_DATA_DIR=str(data_dir),
        DAGSTER_HOME=str(data_dir / "dagster"),
        VISMA_BUSINESS_TYPES="7101",
    )
    for name in ("VISMA_API_URL", "VISMA_TOKEN_URL", "VISMA_CLIENT_ID", "VISMA_CLIENT_SECRET",
                 "P2P_WAREHOUSE", "P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS"):  # fmt: skip
        os.environ.pop(name, None)
    from p2p_assets import settings
    from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig

    state_dir = settings.sandbox_dir("visma")
    state_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sandbox = VismaSandbox(
        VismaSandboxConfig(files_per_type={7101: files}, spike_interval_seconds=0.6), state_dir
    )
    print(f"  generated {files} files of business type 7101 in "
          f"{time.perf_counter() - started:.1f} s (not measured)", flush=True)  # fmt: skip

    import dagster as dg

    from p2p_assets.definitions import defs  # imported before the clock starts
    from p2p_assets.headless import sync_visma

    started = time.perf_counter()
    if via == "dagster":
        with dg.DagsterInstance.ephemeral() as instance:
            report = (sync or sync_visma)(defs, instance)
        loaded = sum(o.success for o in report.outcomes)
        failed = len(report.outcomes) - loaded
    else:
        from p2p_assets.defs.resources import configured
        from p2p_assets.lib.visma.landing import land_file

        loaded = failed = 0
        with configured("visma").get_client() as client:
            for file in client.list_files(filter="businessType eq 7101"):
                land_file(client, settings.landing_dir("visma"), file)
                loaded += 1
    elapsed = time.perf_counter() - started
    counters = sandbox.counters()
    calls, throttled = counters.get("api_calls", 0), counters.get("throttled", 0)
    per_minute = calls / elapsed * 60 if elapsed else 0.0
    print(f"  via {via}: {loaded} file(s) landed and loaded, {failed} failed, "
          f"{counters.get('downloads', 0)} download(s)")  # fmt: skip
    print(f"  {calls} API calls + {counters.get('auth_calls', 0)} authentication call(s) "
          f"in {elapsed:.1f} s = {per_minute:.1f} calls/minute (vendor limit 100)")  # fmt: skip
    files_per_minute = loaded / elapsed * 60 if elapsed else 0.0
    print(f"  {calls / max(1, loaded):.2f} API calls per file (list pages included)")
    print(f"files/minute: {files_per_minute:.1f}")
    print(f"  [{_mark(files_per_minute >= TARGET_FILES_PER_MINUTE)}] at least "
          f"{TARGET_FILES_PER_MINUTE} files/minute: {files_per_minute:.1f}")  # fmt: skip
    print(f"  [{_mark(throttled == 0)}] zero 429s: {throttled}", flush=True)
    return {"seconds": elapsed, "loaded": loaded, "failed": failed, "calls": calls,
            "throttled": throttled, "files_per_minute": files_per_minute}  # fmt: skip


# -- (2) large file -------------------------------------------------------------------------------


def _download_child(env: dict[str, str], dest: str, queue: "multiprocessing.Queue") -> None:
    os.environ.update(env)
    from p2p_assets.defs.resources import configured

    started = time.perf_counter()
    # The client every path uses, configured as in production (`env`: VISMA_* variables), so it
    # paces its Range requests under the spike arrest as it would against Visma.
    with configured("visma").get_client() as client:
        (file,) = [f for f in client.list_files() if f.file_name == "sandbox_large_file.csv"]
        path, size, sha256 = client.download(file, dest)
    queue.put((str(path), size, sha256, time.perf_counter() - started, _peak_rss_mib()))


def large_file(size: int, work: Path) -> None:
    from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig

    free = shutil.disk_usage(work).free
    if free < 2.2 * size:
        print(f"  skipped: {free / MiB:.0f} MiB free under {work}, {2.2 * size / MiB:.0f} needed")
        return
    started = time.perf_counter()
    config = VismaSandboxConfig(files_per_type={}, large_file_bytes=size, spike_interval_seconds=0)
    sandbox = VismaSandbox(config, work / "large-sandbox")
    print(f"  generated a {size / MiB:.0f} MiB file in {time.perf_counter() - started:.1f} s "
          "(not measured)", flush=True)  # fmt: skip
    source = next(Path(f["path"]) for f in sandbox.files() if f["name"] == "sandbox_large_file.csv")
    with sandbox.serve() as url:
        env = {
            "P2P_DATA_DIR": str(work / "large-client"),
            "VISMA_API_URL": f"{url}/v1.0",
            "VISMA_TOKEN_URL": f"{url}/connect/token",
            "VISMA_CLIENT_ID": config.client_id,
            "VISMA_CLIENT_SECRET": config.client_secret,
            "VISMA_TENANT_ID": config.tenant_id,
        }
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(
            target=_download_child,
            args=(env, str(work / "large-landing"), queue),
        )
        child.start()
        path, got, sha256, seconds, peak = queue.get(timeout=3600)
        child.join()
    expected = hashlib.sha256()
    with source.open("rb") as handle:
        for block in iter(lambda: handle.read(8 * MiB), b""):
            expected.update(block)
    exact = got == size and sha256 == expected.hexdigest()
    print(f"  {got / MiB:.0f} MiB in {seconds:.1f} s = {got / MiB / seconds:.0f} MiB/s, "
          f"{(size + 8 * MiB - 1) // (8 * MiB)} Range chunks; size and sha256 "
          f"{'match' if exact else 'DIFFER'}")  # fmt: skip
    print(f"  [{_mark(peak < TARGET_PEAK_MIB and exact)}] peak RSS of the downloading process "
          f"under {TARGET_PEAK_MIB} MiB: {peak:.0f} MiB", flush=True)  # fmt: skip
    Path(path).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--via", choices=("dagster", "client"), default="dagster")
    parser.add_argument("--large-bytes", type=int, default=2 * 1024**3)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="visma-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"Visma transfer benchmark (work dir {work}, {os.cpu_count()} cores)", flush=True)
    try:
        if not args.skip_backfill:
            print(f"(1) backfill of {args.files} files, spike arrest 0.6 s:", flush=True)
            backfill(args.files, work, args.via)
        if not args.skip_large:
            print(f"(2) chunked download of one {args.large_bytes / MiB:.0f} MiB file:", flush=True)
            large_file(args.large_bytes, work)
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
