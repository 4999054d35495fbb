"""Benchmark: loading a 1,000,000-row Basware IA_INVOICE_ROW extract into the DuckDB warehouse.

For each file format (JSON, CSV) the script generates an Initial extract with the sandbox (10 files
of 100,000 IA_INVOICE_ROW records, uncompressed), lands it with the real landing step over loopback
HTTP, and then measures, each step in its own subprocess so that peak RSS is per step:

  (a)      DuckDB alone: `CREATE TABLE t AS SELECT * FROM read_json/read_csv(<the 10 files>)`
           with DuckDB's defaults into a fresh database file (the practical limit);
  (b)      `dg.materialize` of the `basware_tables` multi-asset for a partition whose landing holds
           exactly those 10 IA_INVOICE_ROW files, into a fresh warehouse (both schemas);
  (b bare) `load_extract` alone on the same landing, into another fresh warehouse;
  (c)      a 100,000-row IA_INVOICE_ROW Delta (half re-delivered existing IDs with changed values,
           half new IDs, same format) materialised the same way on top of (b)'s warehouse, and
           bare on top of (b bare)'s;
  (full)   optionally, `dg.materialize` of the sandbox's whole Initial extract (every table).

Targets: (b) <= 3x (a); (c) <= (a) / 3; every step's peak RSS < 1 GiB. The script always exits 0.

    python benchmarks/basware_load.py                       # 1,000,000 rows, json and csv
    python benchmarks/basware_load.py --rows 100000         # smoke test, well under a minute
    python benchmarks/basware_load.py --profile             # + per-statement loader breakdown
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TABLE = "IA_INVOICE_ROW"
ROWS_PER_INVOICE = 4
MiB = 1024 * 1024
TARGET_B = 3.0
TARGET_C = 1 / 3
TARGET_MIB = 1024


# -- measured steps (each runs in a fresh subprocess: `--step NAME --step-args JSON`) -----------


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def step_duckdb(args: dict[str, Any]) -> dict[str, Any]:
    """(a): DuckDB's own reader straight into one table of a fresh database file."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(args["database"])
    reader = "read_json" if args["format"] == "json" else "read_csv"
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [args["paths"]])
    statement = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()  # checkpoint: the table is in the file, as after a warehouse commit
    return {"seconds": time.perf_counter() - started, "statement_s": statement, "rows": rows}


def _env(args: dict[str, Any]) -> None:
    os.environ["P2P_DATA_DIR"] = args["data_dir"]
    os.environ["P2P_WAREHOUSE"] = args["warehouse"]


def step_materialize(args: dict[str, Any]) -> dict[str, Any]:
    """(b)/(c): the `basware_tables` multi-asset for one partition, through Dagster in-process."""
    _env(args)
    import dagster as dg

    from p2p_assets.defs.basware.assets import basware_extract_partitions, basware_tables
    from p2p_assets.defs.basware.resources import BaswareResource
    from p2p_assets.defs.warehouse.resources import DuckDBWarehouse

    if args.get("publish"):
        from p2p_assets.definitions import defs  # imported before the clock starts
        from p2p_assets.headless import publish_warehouse
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(basware_extract_partitions.name, [args["partition"]])
    started = time.perf_counter()
    result = dg.materialize(
        [basware_tables],
        partition_key=args["partition"],
        instance=instance,
        # basware_tables makes no call: its vendor resource is configuration (the landing names
        # the source), here the sandbox's.
        resources={
            "warehouse": DuckDBWarehouse(path=args["warehouse"]),
            "basware": BaswareResource(),
        },
        raise_on_error=False,
    )
    seconds = time.perf_counter() - started
    records = 0
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "records_in_extract" in metadata:
            records += int(metadata["records_in_extract"].value)
    figures = {"seconds": seconds, "success": result.success, "records": records}
    if args.get("publish"):  # benchmarks/publish.py: then publish, as `p2p-assets sync` ends
        started = time.perf_counter()
        published = publish_warehouse(defs, instance, only_if_due=False)
        now = published is not None and getattr(published, "now", True)
        state = published.published if now and published.success else None
        figures["publish"] = {
            "seconds": time.perf_counter() - started,
            "success": state is not None,
            "copy_s": state.seconds if state else float("nan"),
            "bytes": state.bytes if state else 0,
        }
    return figures


class _TimedConnection:
    """Delegates to a DuckDB connection and records the wall time of every statement."""

    def __init__(self, con: Any, log: list[tuple[str, float]]):
        self._con = con
        self._log = log

    def execute(self, sql: str, *params: Any) -> "_TimedConnection":
        started = time.perf_counter()
        self._con.execute(sql, *params)
        self._log.append((sql, time.perf_counter() - started))
        return self

    def executemany(self, sql: str, *params: Any) -> "_TimedConnection":
        started = time.perf_counter()
        self._con.executemany(sql, *params)
        self._log.append((sql, time.perf_counter() - started))
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _short_sql(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"SELECT (.{60}).*? (AS _bad FROM|, \? AS _extract_id)", r"SELECT \1… \2", sql)
    return sql[:150]


def step_load(args: dict[str, Any]) -> dict[str, Any]:
    """(b bare)/(c bare): `load_extract` on the landed partition, no Dagster."""
    _env(args)
    from p2p_assets.defs.basware.assets import _read_landed
    from p2p_assets.lib.basware.loader import load_extract
    from p2p_assets.lib.warehouse.connection import connect

    landed = _read_landed(args["partition"])
    log: list[tuple[str, float]] = []
    started = time.perf_counter()
    with connect(Path(args["warehouse"])) as con:
        target = _TimedConnection(con, log) if args.get("profile") else con
        loads = load_extract(
            target, landed.info, landed.source_files(), landed.definitions, landed.tables
        )
        loaded = time.perf_counter() - started
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "load_extract_s": loaded,
        "records": sum(load.records for load in loads.values()),
        "statements": [[_short_sql(sql), s] for sql, s in log],
    }


STEPS = {"duckdb": step_duckdb, "materialize": step_materialize, "load": step_load}


def run_step(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its result plus the child's peak RSS (wait4)."""
    command = [sys.executable, __file__, "--step", kind, "--step-args", json.dumps(args)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    # The child writes its result to a file: stdout and stderr stay free for Dagster's logging.
    result_file = Path(args["result"])
    if process.returncode != 0 or not result_file.exists():
        result = {"error": f"step {kind} exited with {process.returncode}", "seconds": float("nan")}
    else:
        result = json.loads(result_file.read_text())
        result_file.unlink()
    # VmHWM of the child's own address space. ru_maxrss from wait4 is not used as the figure: on
    # Linux it carries over the forked parent's high-water mark across exec.
    result["peak_mib"] = result.get("vmhwm_mib", usage.ru_maxrss / 1024)
    result["process_s"] = wall
    return result


# -- preparation (not measured) -----------------------------------------------------------------


def _sandbox_config(rows: int, file_format: str):
    from p2p_assets.sandbox.basware import BaswareSandboxConfig

    return BaswareSandboxConfig(
        invoices=max(2, rows // ROWS_PER_INVOICE),
        invoice_rows=rows,
        initial_deltas=0,
        file_format=file_format,
        compression="none",
        download_limit=50,
    )


def prepare(rows: int, file_format: str, base: Path) -> dict[str, Any]:
    """Generate the extract with the sandbox and land it with the real landing step."""
    from p2p_assets.defs.basware.resources import BaswareResource
    from p2p_assets.lib.basware.landing import land_extract
    from p2p_assets.sandbox.basware import BaswareSandbox
    from p2p_assets.sandbox.basware.env import SANDBOX_CREDENTIALS

    config = _sandbox_config(rows, file_format)
    sandbox = BaswareSandbox(config, state_dir=base / "sandbox")
    started = time.perf_counter()
    listing = sandbox.files(0)  # generate and write the files now, not during the download
    generate_s = time.perf_counter() - started
    data_dir = base / "data"
    landing = data_dir / "landing" / "basware"
    os.environ["P2P_DATA_DIR"] = str(data_dir)  # the token cache goes there
    with sandbox.serve() as url:
        # The resource every path builds its client from, pointed at this sandbox as a user
        # points it at Basware (BASWARE_API_URL and the credentials).
        basware = BaswareResource(
            api_url=url,
            client_id=SANDBOX_CREDENTIALS["client_id"],
            client_secret=SANDBOX_CREDENTIALS["client_secret"],
        )
        with basware.get_client() as client:
            extract = client.list_extracts()[0]
            started = time.perf_counter()
            landed = land_extract(client, extract, landing)
            download_s = time.perf_counter() - started
    row_files = [f for f in landed.files if f["table_name"] == TABLE]
    return {
        "data_dir": data_dir,
        "landing": landing,
        "extract_id": extract.id,
        "generate_s": generate_s,
        "download_s": download_s,
        "downloaded": len(landed.downloaded),
        "reused": len(landed.reused),
        "bytes": landed.bytes,
        "all_records": sum(int(e["recordCount"]) for e in listing),
        "all_files": len(listing),
        "row_files": row_files,
        "row_bytes": sum(int(f["size"]) for f in row_files),
    }


def _manifest(landing: Path, extract_id: str) -> dict[str, Any]:
    return json.loads((landing / extract_id / "manifest.json").read_text())


def _write_landing(
    landing: Path, partition: str, extract: dict[str, Any], files: list[dict], source: dict
) -> None:
    directory = landing / partition
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "extract": extract,
        "files": files,
        "definitions": source["definitions"],
        "tables": source["tables"],
        "source": source.get("source"),  # where the landed files came from (the sandbox)
        "written_at": datetime.now(UTC).isoformat(),
    }
    (directory / "manifest.json").write_text(json.dumps(payload, indent=1))


def _member(entry: Any) -> str:
    """A landed file's name in its partition (the manifest lists `{"path", "name"}` entries)."""
    from p2p_assets.lib.basware.archives import member_entry

    return member_entry(entry)["path"]


def _link(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def rows_only_partition(prepared: dict[str, Any], file_format: str) -> str:
    """A landing holding only the extract's IA_INVOICE_ROW files (hard links to the landed ones)
    and their manifest entries, so (b) loads exactly the files (a) reads."""
    landing, extract_id = prepared["landing"], prepared["extract_id"]
    source = _manifest(landing, extract_id)
    partition = f"bench-{file_format}-{TABLE.lower()}"
    (landing / partition).mkdir(parents=True, exist_ok=True)
    for entry in prepared["row_files"]:
        for member in map(_member, entry["readable"]):
            _link(landing / extract_id / member, landing / partition / member)
    extract = {**source["extract"], "id": partition, "fileCount": len(prepared["row_files"])}
    _write_landing(landing, partition, extract, prepared["row_files"], source)
    return partition


def delta_partition(prepared: dict[str, Any], file_format: str, delta_rows: int) -> str:
    """A Delta of `delta_rows` IA_INVOICE_ROW records in the same format, landed as the landing
    step would leave it: half re-delivered existing IDs with changed values, half new IDs."""
    import duckdb

    landing, extract_id = prepared["landing"], prepared["extract_id"]
    source = _manifest(landing, extract_id)
    partition = f"bench-{file_format}-delta"
    directory = landing / partition
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{TABLE}_0001.{file_format}"
    paths = [
        str(landing / extract_id / _member(m)) for f in prepared["row_files"] for m in f["readable"]
    ]
    changed = delta_rows // 2
    reader = (
        "read_json(?, format='array', columns=" + _varchar_columns(paths, file_format) + ")"
        if file_format == "json"
        else "read_csv(?, header=true, all_varchar=true)"
    )
    copy = "FORMAT json, ARRAY true" if file_format == "json" else "FORMAT csv, HEADER true"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE src AS SELECT * FROM {reader}", [paths])
    con.execute(
        "CREATE TABLE delta AS "
        f"(SELECT * REPLACE (DESCRIPTION || ' (changed)' AS DESCRIPTION) FROM src "
        f"ORDER BY hash(ID) LIMIT {changed}) "
        f"UNION ALL (SELECT * REPLACE (ID || '-new' AS ID) FROM src "
        f"ORDER BY hash(ID) DESC LIMIT {delta_rows - changed})"
    )
    con.execute(f"COPY delta TO '{directory / name}' ({copy})")
    con.close()
    data = (directory / name).read_bytes()
    when = datetime.strptime(source["extract"]["extractDate"], "%d/%m/%Y, %H:%M:%S")
    stamp = (when + timedelta(days=1)).strftime("%d/%m/%Y, %H:%M:%S")
    extract = {
        **source["extract"],
        "id": partition,
        "type": "Delta",
        "startDate": source["extract"]["endDate"],
        "endDate": stamp,
        "extractDate": stamp,
        "fileCount": 1,
    }
    entry = {
        "table_name": TABLE,
        "file_name": name,
        "record_count": delta_rows,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "readable": [name],
        "downloaded_at": datetime.now(UTC).isoformat(),
    }
    _write_landing(landing, partition, extract, [entry], source)
    return partition


def _varchar_columns(paths: list[str], file_format: str) -> str:
    import duckdb

    keys = duckdb.execute(
        "SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects(?, format='array')",
        [paths[:1]],
    ).fetchall()
    return "{" + ", ".join(f"'{k}': 'VARCHAR'" for (k,) in sorted(keys)) + "}"


# -- the run ------------------------------------------------------------------------------------


def bench_format(args: argparse.Namespace, file_format: str, workdir: Path) -> dict[str, Any]:
    base = workdir / file_format
    base.mkdir(parents=True, exist_ok=True)
    say(f"[{file_format}] generating {args.rows:,} {TABLE} records and landing them ...")
    prepared = prepare(args.rows, file_format, base)
    say(
        f"[{file_format}] generated {prepared['all_files']} files / {prepared['all_records']:,} "
        f"records in {prepared['generate_s']:.1f} s; landed {prepared['downloaded']} files "
        f"({prepared['reused']} reused, {prepared['bytes'] / MiB:,.0f} MiB) in "
        f"{prepared['download_s']:.1f} s"
    )
    rows_partition = rows_only_partition(prepared, file_format)
    delta_rows = args.delta_rows or args.rows // 10
    delta = delta_partition(prepared, file_format, delta_rows)
    landing = prepared["landing"]
    paths = [
        str(landing / rows_partition / _member(m))
        for f in prepared["row_files"]
        for m in f["readable"]
    ]
    dbs = base / "db"
    shutil.rmtree(dbs, ignore_errors=True)
    dbs.mkdir()
    common = {"data_dir": str(prepared["data_dir"]), "profile": args.profile}
    results: dict[str, Any] = {"prepared": prepared, "delta_rows": delta_rows, "paths": paths}

    def step(label: str, kind: str, **extra: Any) -> dict[str, Any]:
        say(f"[{file_format}] {label} ...")
        step_args = {**common, **extra, "result": str(base / f".result-{label}.json")}
        result = run_step(kind, step_args)
        results[label] = result
        say(f"[{file_format}] {label}: {_brief(result)}")
        return result

    step("a", "duckdb", format=file_format, paths=paths, database=str(dbs / "a.duckdb"))
    dagster_wh = str(dbs / "dagster.duckdb")
    bare_wh = str(dbs / "bare.duckdb")
    step("b", "materialize", warehouse=dagster_wh, partition=rows_partition)
    step("c", "materialize", warehouse=dagster_wh, partition=delta)
    step("b_bare", "load", warehouse=bare_wh, partition=rows_partition)
    step("c_bare", "load", warehouse=bare_wh, partition=delta)
    if args.full_extract:
        step(
            "b_full",
            "materialize",
            warehouse=str(dbs / "full.duckdb"),
            partition=prepared["extract_id"],
        )
    if not args.keep:
        shutil.rmtree(dbs, ignore_errors=True)
    return results


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    extra = f", {result['records']:,} records" if "records" in result else ""
    extra += f", {result['rows']:,} rows" if "rows" in result else ""
    extra += "" if result.get("success", True) else ", FAILED"
    return (
        f"{result['seconds']:.2f} s, peak {result['peak_mib']:.0f} MiB{extra} "
        f"(process {result['process_s']:.1f} s incl. imports)"
    )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args: argparse.Namespace, all_results: dict[str, dict[str, Any]]) -> None:
    print()
    print(
        f"Basware {TABLE} load benchmark: {args.rows:,} rows in files of 100,000, "
        f"{os.cpu_count()} CPUs, DuckDB {_duckdb_version()}"
    )
    print(
        "(a) DuckDB read_* -> one table   (b) dg.materialize basware_tables, rows-only partition"
        "   (c) same, delta on top"
    )
    header = (
        f"{'format':6} {'download s':>10} {'(a) s':>7} {'(b) s':>7} {'(b)/(a)':>8} {'<=3':>4} "
        f"{'(c) s':>7} {'(c)/(a)':>8} {'<=.33':>5} {'peak MiB a/b/c':>16} {'<1GiB':>5}"
    )
    print("peak target checked on b, c, b_bare, c_bare (and b_full); (a)'s peak is for reference")
    print(header)
    print("-" * len(header))
    for fmt, r in all_results.items():
        a, b, c = r["a"]["seconds"], r["b"]["seconds"], r["c"]["seconds"]
        # The memory target is the loader's: (a) is DuckDB with its defaults, shown for reference.
        peaks = [r[k]["peak_mib"] for k in ("b", "c", "b_bare", "c_bare", "b_full") if k in r]
        peak_ok = all(p < TARGET_MIB for p in peaks)
        ok_b = all(r[k].get("success", True) and "error" not in r[k] for k in ("b", "c"))
        print(
            f"{fmt:6} {r['prepared']['download_s']:10.2f} {a:7.2f} {b:7.2f} {b / a:8.2f} "
            f"{_mark(ok_b and b / a <= TARGET_B):>4} {c:7.2f} {c / a:8.3f} "
            f"{_mark(ok_b and c / a <= TARGET_C):>5} "
            f"{r['a']['peak_mib']:5.0f}/{r['b']['peak_mib']:4.0f}/{r['c']['peak_mib']:4.0f} "
            f"{_mark(peak_ok):>5}"
        )
    print()
    print("Details (seconds; peak RSS of each step's own process in MiB):")
    for fmt, r in all_results.items():
        p = r["prepared"]
        a = r["a"]["seconds"]
        print(
            f"  {fmt}: generate {p['generate_s']:.2f} s; download (land_extract, excluded) "
            f"{p['download_s']:.2f} s for {p['all_files']} files / {p['bytes'] / MiB:,.0f} MiB "
            f"({p['downloaded']} downloaded, {p['reused']} already landed); "
            f"{TABLE} files {p['row_bytes'] / MiB:,.0f} MiB"
        )
        rows = [
            ("a", f"DuckDB CREATE TABLE AS read_{fmt} (statement {r['a']['statement_s']:.2f} s)"),
            ("b", "dg.materialize basware_tables, IA_INVOICE_ROW-only partition"),
            ("b_bare", "load_extract alone, same partition"),
            ("c", f"dg.materialize, {r['delta_rows']:,}-row delta on top of (b)"),
            ("c_bare", "load_extract alone, same delta on top of (b bare)"),
            ("b_full", f"dg.materialize, the whole Initial ({p['all_records']:,} records)"),
        ]
        for key, what in rows:
            if key not in r:
                continue
            s = r[key]
            status = _brief(s)
            ratio = f"{s['seconds'] / a:5.2f}x (a)" if s["seconds"] == s["seconds"] else ""
            print(f"    {key:7} {s['seconds']:7.2f} s  {ratio}  {what}; {status}")
        if "b" in r and "b_bare" in r:
            overhead = r["b"]["seconds"] - r["b_bare"]["seconds"]
            print(f"    Dagster overhead (b - b_bare): {overhead:.2f} s")
        for key in ("b_bare", "c_bare"):
            statements = r.get(key, {}).get("statements") or []
            if not statements:
                continue
            total = sum(s for _, s in statements)
            print(f"    per-statement breakdown of {key} (load_extract, {total:.2f} s in SQL):")
            for sql, seconds in statements:
                if seconds >= 0.01:
                    print(f"      {seconds:7.2f} s  {sql}")


def _duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="IA_INVOICE_ROW records")
    parser.add_argument("--delta-rows", type=int, default=0, help="default: rows / 10")
    parser.add_argument("--formats", default="json,csv", help="comma separated: json,csv")
    parser.add_argument("--workdir", type=Path, help="default: a temp dir (removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir and warehouses")
    parser.add_argument("--profile", action="store_true", help="time every loader statement")
    parser.add_argument(
        "--full-extract",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also materialise the whole Initial extract (every table); informational, slow",
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step_args = json.loads(args.step_args)
        result = STEPS[args.step](step_args)
        result["vmhwm_mib"] = _peak_rss_mib()
        Path(step_args["result"]).write_text(json.dumps(result))
        return

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="basware-bench-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"workdir {workdir}")
    results: dict[str, dict[str, Any]] = {}
    try:
        for file_format in formats:
            results[file_format] = bench_format(args, file_format, workdir)
        report(args, results)
    finally:
        if not args.keep and not args.workdir:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    sys.exit(0)


if __name__ == "__main__":
    main()
