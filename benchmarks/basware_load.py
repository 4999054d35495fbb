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
TARGET_B = 2.0  # (b) / (a)
TARGET_C = 1 / 3  # (c) / (a), the mean over --deltas
TARGET_GROWTH = 1.5  # (c) on the --scale table / (c)
TARGET_EXTRACTS_PER_MINUTE = 30.0  # --backfill
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


def step_series(args: dict[str, Any]) -> dict[str, Any]:
    """--deltas / --backfill: partitions materialised one after another through Dagster, one run
    per extract in this one process (as `p2p-assets sync` runs them), each run timed."""
    _env(args)
    import dagster as dg

    from p2p_assets.defs.basware.assets import basware_extract_partitions, basware_tables
    from p2p_assets.defs.basware.resources import BaswareResource
    from p2p_assets.defs.warehouse.resources import DuckDBWarehouse

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(
        basware_extract_partitions.name, list(dict.fromkeys(args["partitions"]))
    )
    resources = {
        "warehouse": DuckDBWarehouse(path=args["warehouse"]),
        "basware": BaswareResource(),
    }
    seconds: list[float] = []
    failed: list[str] = []
    started = time.perf_counter()
    for partition in args["partitions"]:
        run_started = time.perf_counter()
        result = dg.materialize(
            [basware_tables],
            partition_key=partition,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        seconds.append(time.perf_counter() - run_started)
        if not result.success:
            failed.append(partition)
    return {
        "seconds": time.perf_counter() - started,
        "runs": seconds,
        "failed": failed,
        "success": not failed,
    }


def step_series_bare(args: dict[str, Any]) -> dict[str, Any]:
    """The same partitions through `load_extract` alone, one after another: the loader's share."""
    _env(args)
    from p2p_assets.defs.basware.assets import _read_landed
    from p2p_assets.lib.basware.loader import load_extract
    from p2p_assets.lib.warehouse.connection import connect

    seconds: list[float] = []
    started = time.perf_counter()
    for partition in args["partitions"]:
        landed = _read_landed(partition)
        run_started = time.perf_counter()
        with connect(Path(args["warehouse"])) as con:
            load_extract(con, landed.info, landed.source_files(), landed.definitions, landed.tables)
        seconds.append(time.perf_counter() - run_started)
    return {"seconds": time.perf_counter() - started, "runs": seconds, "success": True}


def step_queries(args: dict[str, Any]) -> dict[str, Any]:
    """Query speed of the current tables the loads left, against the same rows freshly written
    (one CREATE TABLE AS per table into a new file: the best layout DuckDB can have)."""
    import duckdb

    from p2p_assets.lib.warehouse.connection import connect

    figures: dict[str, Any] = {}
    compact = args["compact"]
    names = ("ia_invoice", "ia_invoice_row")
    for label, warehouse in (("loaded", args["warehouse"]),):
        with connect(Path(warehouse), read_only=True) as con:
            stored = {}
            for name in names:
                live = con.execute(f"SELECT count(*) FROM basware.{name}").fetchone()[0]
                estimated = con.execute(
                    "SELECT estimated_size FROM duckdb_tables() "
                    "WHERE schema_name = 'basware' AND table_name = ?",
                    [name],
                ).fetchone()[0]
                stored[name] = {"live": live, "stored": estimated}
            figures[f"stored_rows_{label}"] = stored
            figures[label] = _time_queries(con, args["repeat"])
    Path(compact).unlink(missing_ok=True)
    con = duckdb.connect(compact)
    con.execute("SET memory_limit = '640MB'")
    con.execute("ATTACH ? AS w (READ_ONLY)", [args["warehouse"]])
    con.execute("CREATE SCHEMA basware")
    for name in names:
        con.execute(f"CREATE TABLE basware.{name} AS SELECT * FROM w.basware.{name}")
    con.execute("DETACH w")
    con.close()
    con = duckdb.connect(compact, read_only=True)
    con.execute("SET memory_limit = '640MB'")
    figures["compact"] = _time_queries(con, args["repeat"])
    con.close()
    Path(compact).unlink(missing_ok=True)
    return {"seconds": 0.0, **figures}


QUERIES = {
    # README's example query, on the table the deltas changed.
    "readme": (
        "SELECT PRODUCT_CODE, count(*), sum(GROSS_SUM) FROM basware.ia_invoice_row GROUP BY 1"
    ),
    # Invoices with their rows.
    "join": (
        "SELECT i.STATUS, count(*), sum(r.NET_SUM), max(r.DESCRIPTION) "
        "FROM basware.ia_invoice i JOIN basware.ia_invoice_row r ON r.INVOICE_ID = i.ID "
        "GROUP BY 1"
    ),
}


def _time_queries(con: Any, repeat: int) -> dict[str, float]:
    """The median of `repeat` runs of each query (after one warm-up run)."""
    timings: dict[str, float] = {}
    for name, sql in QUERIES.items():
        con.execute(sql).fetchall()
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            runs.append(time.perf_counter() - started)
        timings[name] = sorted(runs)[len(runs) // 2]
    return timings


STEPS = {
    "duckdb": step_duckdb,
    "materialize": step_materialize,
    "load": step_load,
    "series": step_series,
    "series_bare": step_series_bare,
    "queries": step_queries,
}


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


class DeltaWriter:
    """Writes Delta extracts of IA_INVOICE_ROW records in the landed format, landed as the landing
    step would leave them: half re-deliver existing IDs (spread over the whole table: the worst
    case for the current table) with a changed DESCRIPTION, half are new IDs. Delta `day` is dated
    `day` days after the Initial and starts where the previous one ended."""

    def __init__(self, prepared: dict[str, Any], file_format: str, paths: list[str]):
        import duckdb

        self.landing = prepared["landing"]
        self.source = _manifest(self.landing, prepared["extract_id"])
        self.file_format = file_format
        self.con = duckdb.connect()
        reader = (
            "read_json(?, format='array', columns=" + _varchar_columns(paths, file_format) + ")"
            if file_format == "json"
            else "read_csv(?, header=true, all_varchar=true)"
        )
        self.reader = reader
        self.con.execute(f"CREATE TABLE src AS SELECT * FROM {reader}", [paths])
        self.initial = datetime.strptime(
            self.source["extract"]["extractDate"], "%d/%m/%Y, %H:%M:%S"
        )
        self.written: list[tuple[str, str]] = []  # (partition, file path), in extract order

    def write(self, partition: str, rows: int, day: int) -> str:
        directory = self.landing / partition
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        name = f"{TABLE}_0001.{self.file_format}"
        changed = rows // 2
        copy = (
            "FORMAT json, ARRAY true" if self.file_format == "json" else "FORMAT csv, HEADER true"
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE delta AS "
            f"(SELECT * REPLACE (DESCRIPTION || ' (changed on day {day})' AS DESCRIPTION) "
            f"FROM src USING SAMPLE reservoir({changed} ROWS) REPEATABLE ({day})) "
            f"UNION ALL (SELECT * REPLACE (ID || '-new{day}' AS ID) "
            f"FROM src USING SAMPLE reservoir({rows - changed} ROWS) REPEATABLE ({day + 7919}))"
        )
        self.con.execute(f"COPY delta TO '{directory / name}' ({copy})")
        data = (directory / name).read_bytes()
        stamp = lambda days: (self.initial + timedelta(days=days)).strftime(  # noqa: E731
            "%d/%m/%Y, %H:%M:%S"
        )
        extract = {
            **self.source["extract"],
            "id": partition,
            "type": "Delta",
            "startDate": stamp(day - 1) if day > 1 else self.source["extract"]["endDate"],
            "endDate": stamp(day),
            "extractDate": stamp(day),
            "fileCount": 1,
        }
        entry = {
            "table_name": TABLE,
            "file_name": name,
            "record_count": rows,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "readable": [name],
            "downloaded_at": datetime.now(UTC).isoformat(),
        }
        _write_landing(self.landing, partition, extract, [entry], self.source)
        self.written.append((partition, str(directory / name)))
        return partition

    def differences(self, warehouse: str, partitions: list[str]) -> dict[str, int]:
        """The current state the Initial plus `partitions` (in order) must leave, computed here
        from the files, against `basware.ia_invoice_row` in `warehouse`: rows that differ."""
        reader = self.reader
        files = dict(self.written)
        parts = ["SELECT ID, DESCRIPTION, 0 AS ord FROM src"]
        params: list[Any] = []
        for ordinal, partition in enumerate(partitions, start=1):
            parts.append(f"SELECT ID, DESCRIPTION, {ordinal} FROM {reader}")
            params.append(files[partition])
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE truth AS SELECT ID, DESCRIPTION FROM ("
            + " UNION ALL ".join(parts)
            + ") QUALIFY row_number() OVER (PARTITION BY ID ORDER BY ord DESC) = 1",
            params,
        )
        self.con.execute("ATTACH ? AS w (READ_ONLY)", [warehouse])
        try:
            loaded = "SELECT ID, CAST(DESCRIPTION AS VARCHAR) FROM w.basware.ia_invoice_row"
            missing = self.con.execute(
                f"SELECT count(*) FROM (SELECT * FROM truth EXCEPT ALL {loaded})"
            ).fetchone()[0]
            extra = self.con.execute(
                f"SELECT count(*) FROM ({loaded} EXCEPT ALL SELECT * FROM truth)"
            ).fetchone()[0]
            rows = self.con.execute("SELECT count(*) FROM truth").fetchone()[0]
        finally:
            self.con.execute("DETACH w")
        return {"expected_rows": rows, "missing_or_wrong": missing, "unexpected": extra}


def scaled_partition(prepared: dict[str, Any], file_format: str, factor: int) -> str:
    """The Initial's IA_INVOICE_ROW files `factor` times over (copy k's IDs end in `-s<k>`), so
    the table holds `factor` times the rows; copy 0 is the landed files themselves."""
    import duckdb

    landing, extract_id = prepared["landing"], prepared["extract_id"]
    source = _manifest(landing, extract_id)
    partition = f"bench-{file_format}-x{factor}"
    directory = landing / partition
    directory.mkdir(parents=True, exist_ok=True)
    originals = [(_member(m), f) for f in prepared["row_files"] for m in f["readable"]]
    paths = [str(landing / extract_id / member) for member, _ in originals]
    reader = (
        "read_json(?, format='array', columns=" + _varchar_columns(paths, file_format) + ")"
        if file_format == "json"
        else "read_csv(?, header=true, all_varchar=true)"
    )
    copy = "FORMAT json, ARRAY true" if file_format == "json" else "FORMAT csv, HEADER true"
    con = duckdb.connect()
    entries = []
    for k in range(factor):
        for member, entry in originals:
            name = member if k == 0 else f"{Path(member).stem}_s{k}{Path(member).suffix}"
            target = directory / name
            if k == 0:
                _link(landing / extract_id / member, target)
            elif not target.exists():
                con.execute(
                    f"COPY (SELECT * REPLACE (ID || '-s{k}' AS ID) FROM {reader}) "
                    f"TO '{target}' ({copy})",
                    [str(landing / extract_id / member)],
                )
            data = target.read_bytes()
            entries.append(
                {
                    **entry,
                    "file_name": name,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "readable": [name],
                }
            )
    con.close()
    extract = {**source["extract"], "id": partition, "fileCount": len(entries)}
    _write_landing(landing, partition, extract, entries, source)
    return partition


def invoices_partition(prepared: dict[str, Any]) -> str:
    """The Initial's IA_INVOICE files alone, for the join in the query figures (loaded, not
    timed)."""
    landing, extract_id = prepared["landing"], prepared["extract_id"]
    source = _manifest(landing, extract_id)
    partition = f"bench-{extract_id[:8]}-ia_invoice"
    files = [f for f in source["files"] if f["table_name"] == "IA_INVOICE"]
    (landing / partition).mkdir(parents=True, exist_ok=True)
    for entry in files:
        for member in map(_member, entry["readable"]):
            _link(landing / extract_id / member, landing / partition / member)
    extract = {**source["extract"], "id": partition, "fileCount": len(files)}
    _write_landing(landing, partition, extract, files, source)
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
    landing = prepared["landing"]
    paths = [
        str(landing / rows_partition / _member(m))
        for f in prepared["row_files"]
        for m in f["readable"]
    ]
    writer = DeltaWriter(prepared, file_format, paths)
    deltas = [
        writer.write(f"bench-{file_format}-delta-{day:03d}", delta_rows, day)
        for day in range(1, args.deltas + 1)
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
    if args.backfill:  # the backfill starts from the Initial alone
        shutil.copytree(f"{dagster_wh}.work", dbs / "backfill.duckdb.work")
    series = step("c_series", "series", warehouse=dagster_wh, partitions=deltas)
    results["c"] = _first_run(series)
    results["truth"] = writer.differences(_working(dagster_wh), deltas)
    step("b_bare", "load", warehouse=bare_wh, partition=rows_partition)
    step("c_bare", "load", warehouse=bare_wh, partition=deltas[0])
    if len(deltas) > 1:
        step("c_bare_series", "series_bare", warehouse=bare_wh, partitions=deltas[1:])
    if args.queries:
        invoices = invoices_partition(prepared)
        step("invoices", "load", warehouse=bare_wh, partition=invoices)
        step(
            "queries",
            "queries",
            warehouse=bare_wh,
            compact=str(dbs / "compact.duckdb"),
            repeat=args.query_repeat,
        )
    # Dagster's own cost of one run: a delta of 2 rows, on top of the same warehouse.
    floor = writer.write(f"bench-{file_format}-floor", 2, args.deltas + 1)
    step("floor", "series", warehouse=dagster_wh, partitions=[floor, floor])
    if args.backfill:
        daily = [
            writer.write(f"bench-{file_format}-day-{day:03d}", args.backfill_rows, day)
            for day in range(1, args.backfill + 1)
        ]
        step("backfill", "series", warehouse=str(dbs / "backfill.duckdb"), partitions=daily)
        results["backfill_truth"] = writer.differences(
            _working(str(dbs / "backfill.duckdb")), daily
        )
    writer.con.close()
    if args.scale > 1:
        scaled = scaled_partition(prepared, file_format, args.scale)
        scaled_paths = [
            str(landing / scaled / e["file_name"]) for e in _manifest(landing, scaled)["files"]
        ]
        scaled_writer = DeltaWriter(prepared, file_format, scaled_paths)
        scaled_deltas = [
            scaled_writer.write(
                f"bench-{file_format}-x{args.scale}-delta-{day:03d}", delta_rows, day
            )
            for day in range(1, args.deltas + 1)
        ]
        scaled_wh = str(dbs / f"x{args.scale}.duckdb")
        step(
            "a_scaled",
            "duckdb",
            format=file_format,
            paths=scaled_paths,
            database=str(dbs / "a_scaled.duckdb"),
        )
        step("b_scaled", "materialize", warehouse=scaled_wh, partition=scaled)
        scaled_series = step(
            "c_scaled_series", "series", warehouse=scaled_wh, partitions=scaled_deltas
        )
        results["c_scaled"] = _first_run(scaled_series)
        results["scaled_truth"] = scaled_writer.differences(_working(scaled_wh), scaled_deltas)
        scaled_writer.con.close()
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


def _working(warehouse: str) -> str:
    """The pipeline's working file behind a published warehouse path (what Dagster runs write)."""
    return str(Path(f"{warehouse}.work") / "warehouse.duckdb")


def _first_run(series: dict[str, Any]) -> dict[str, Any]:
    """A series step's first run as a step of its own: (c) is the first delta."""
    runs = series.get("runs") or [float("nan")]
    return {
        "seconds": runs[0],
        "peak_mib": series.get("peak_mib", float("nan")),
        "process_s": series.get("process_s", float("nan")),
        "success": series.get("success", False) and "error" not in series,
    }


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


def _truth(name: str, truth: dict[str, int]) -> tuple[str, str, bool]:
    differ = truth["missing_or_wrong"] + truth["unexpected"]
    return (name, f"{differ} rows differ of {truth['expected_rows']:,}", differ == 0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def figures(
    args: argparse.Namespace, fmt: str, r: dict[str, Any]
) -> list[tuple[str, str, bool | None]]:
    """(name, value, met) for every figure this run measured, in the order printed; `met` is
    None for a figure without a target."""
    out: list[tuple[str, str, bool | None]] = []
    a = r["a"]["seconds"]
    ok = all(r[k].get("success", True) and "error" not in r[k] for k in ("b", "c_series"))
    runs = r["c_series"].get("runs") or [float("nan")]
    out.append(
        (
            f"load_ratio {fmt}",
            f"{r['b']['seconds'] / a:.2f}",
            ok and r["b"]["seconds"] / a <= TARGET_B,
        )
    )
    mean = _mean(runs)
    out.append((f"delta_ratio {fmt}", f"{mean / a:.3f}", ok and mean / a <= TARGET_C))
    bare = [r["c_bare"]["seconds"], *r.get("c_bare_series", {}).get("runs", [])]
    out.append((f"delta_ratio_load {fmt}", f"{_mean(bare) / a:.3f}", _mean(bare) / a <= TARGET_C))
    if r.get("floor", {}).get("runs"):
        floor = min(r["floor"]["runs"])
        out.append((f"run_floor {fmt}", f"{floor:.2f} s = {floor / a:.2f} (a)", None))
    out.append(_truth(f"delta_truth {fmt}", r["truth"]))
    if "c_scaled_series" in r:
        scaled = _mean(r["c_scaled_series"].get("runs") or [float("nan")])
        growth = scaled / mean
        out.append((f"delta_growth {fmt} x{args.scale}", f"{growth:.2f}", growth <= TARGET_GROWTH))
        out.append(_truth(f"delta_truth {fmt} x{args.scale}", r["scaled_truth"]))
    if "backfill" in r:
        bf = r["backfill"]
        per_minute = len(bf.get("runs", [])) / bf["seconds"] * 60 if bf.get("runs") else 0.0
        out.append(
            (
                f"backfill {fmt}",
                f"{per_minute:.1f} extracts/minute",
                bf.get("success", False) and per_minute >= TARGET_EXTRACTS_PER_MINUTE,
            )
        )
        out.append(_truth(f"backfill_truth {fmt}", r["backfill_truth"]))
    if "queries" in r and "loaded" in r["queries"]:
        q = r["queries"]
        for name in QUERIES:
            ratio = q["loaded"][name] / q["compact"][name]
            out.append((f"query_{name} {fmt}", f"{ratio:.2f}", None))
    keys = (
        "b",
        "c_series",
        "b_bare",
        "c_bare",
        "backfill",
        "b_scaled",
        "c_scaled_series",
        "b_full",
    )
    peak = max(r[k]["peak_mib"] for k in keys if k in r)
    out.append((f"peak_mib {fmt}", f"{peak:.0f}", peak < TARGET_MIB))
    return out


def report(args: argparse.Namespace, all_results: dict[str, dict[str, Any]]) -> None:
    print()
    print(
        f"Basware {TABLE} load benchmark: {args.rows:,} rows in files of 100,000, "
        f"{os.cpu_count()} CPUs, DuckDB {_duckdb_version()}"
    )
    print(
        "(a) DuckDB read_* -> one table   (b) dg.materialize basware_tables, rows-only partition"
        f"   (c) same, {args.deltas} delta(s) of {next(iter(all_results.values()))['delta_rows']:,}"
        " rows on top, one run each"
    )
    targets = {
        "load_ratio": f"(b)/(a) <= {TARGET_B}",
        "delta_ratio": f"mean (c)/(a) <= {TARGET_C:.2f}, one Dagster run per delta",
        "delta_ratio_load": f"the same deltas through load_extract alone <= {TARGET_C:.2f}",
        "run_floor": "no target: a 2-row delta through Dagster, the cost of any run",
        "delta_truth": "current table = the latest version of every ID",
        "delta_growth": f"mean (c) on the larger table / mean (c) <= {TARGET_GROWTH}",
        "backfill": f">= {TARGET_EXTRACTS_PER_MINUTE:.0f} extracts/minute",
        "backfill_truth": "current table = the latest version of every ID",
        "query_readme": "no target here: after the deltas / a freshly written copy",
        "query_join": "no target here: after the deltas / a freshly written copy",
        "peak_mib": f"every step < {TARGET_MIB} MiB",
    }
    for fmt, r in all_results.items():
        for name, value, met in figures(args, fmt, r):
            mark = "" if met is None else f" {_mark(met)}"
            print(f"{name} {value}{mark}   ({targets[name.split()[0]]})")
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
            ("c", f"dg.materialize, the first {r['delta_rows']:,}-row delta on top of (b)"),
            ("c_bare", "load_extract alone, same delta on top of (b bare)"),
            ("a_scaled", f"(a) on the table x{args.scale}"),
            ("b_scaled", f"(b) on the table x{args.scale}"),
            ("c_scaled", f"(c) on the table x{args.scale}"),
            ("b_full", f"dg.materialize, the whole Initial ({p['all_records']:,} records)"),
        ]
        for key, what in rows:
            if key not in r:
                continue
            step = r[key]
            ratio = f"{step['seconds'] / a:5.2f}x (a)" if step["seconds"] == step["seconds"] else ""
            print(f"    {key:8} {step['seconds']:7.2f} s  {ratio}  {what}; {_brief(step)}")
        for key in (
            "c_series",
            "c_bare_series",
            "c_scaled_series",
            "backfill",
            "floor",
        ):
            if key not in r or not r[key].get("runs"):
                continue
            runs = r[key]["runs"]
            print(
                f"    {key}: {len(runs)} runs, mean {_mean(runs):.2f} s, worst {max(runs):.2f} s "
                f"(run {runs.index(max(runs)) + 1}), best {min(runs):.2f} s; "
                f"peak {r[key]['peak_mib']:.0f} MiB; "
                + " ".join(f"{x:.2f}" for x in runs[:40])
                + (" ..." if len(runs) > 40 else "")
            )
        if "queries" in r and "loaded" in r["queries"]:
            q = r["queries"]
            for name in QUERIES:
                print(
                    f"    query {name} (median of {args.query_repeat}): "
                    f"{q['loaded'][name] * 1000:.1f} ms after the deltas, "
                    f"{q['compact'][name] * 1000:.1f} ms on a freshly written copy"
                )
            for label in ("loaded",):
                for name, counts in q[f"stored_rows_{label}"].items():
                    print(
                        f"    basware.{name} ({label}): {counts['live']:,} rows, "
                        f"{counts['stored']:,} stored (deleted rows not yet reclaimed count)"
                    )
        if "b" in r and "b_bare" in r:
            overhead = r["b"]["seconds"] - r["b_bare"]["seconds"]
            print(f"    Dagster overhead (b - b_bare): {overhead:.2f} s")
        for key in ("b_bare", "c_bare"):
            statements = r.get(key, {}).get("statements") or []
            if not statements:
                continue
            total = sum(sec for _, sec in statements)
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
    parser.add_argument(
        "--deltas",
        type=int,
        default=1,
        help="consecutive deltas of --delta-rows on top of (b); (c) is the first, the ratio "
        "target is checked on their mean (any compaction they trigger counts)",
    )
    parser.add_argument(
        "--backfill",
        type=int,
        default=0,
        help="also load this many daily deltas of --backfill-rows on top of the Initial, one "
        "Dagster run per extract, and print extracts per minute",
    )
    parser.add_argument("--backfill-rows", type=int, default=10_000)
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="also measure on a table this many times larger (e.g. 5): the deltas must not cost "
        "more than 1.5 times as much there",
    )
    parser.add_argument(
        "--queries",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="query speed of the loaded tables against a freshly written copy",
    )
    parser.add_argument("--query-repeat", type=int, default=7)
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
