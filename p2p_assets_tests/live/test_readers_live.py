"""Users query the warehouse while the pipeline runs: a reader never delays a sync, a sync never
breaks a reader, and a reader only ever sees whole extracts.

Two reader processes, as users run them: one holds `P2P_WAREHOUSE` open read-only for the whole
of the syncs and queries it every 0.5 s (a notebook, a BI tool); the other connects, queries and
disconnects every 0.5 s (a dashboard refreshing). Neither imports the product.
"""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from p2p_assets_tests.live import basware, test_visma_live
from p2p_assets_tests.live.conftest import Product, output

# Every poll: per committed extract and table, the rows in basware_history match the count the
# registry recorded in the same transaction (a half-published extract would not).
READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import duckdb

    warehouse, log, stop, hold = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

    def poll(con):
        registry = con.execute(
            "SELECT extract_id, table_name, record_count FROM basware.extract_tables"
        ).fetchall()
        wrong = []
        for extract_id, table, expected in registry:
            found = con.execute(
                f'SELECT count(*) FROM basware_history."{table.lower()}" WHERE _extract_id = ?',
                [extract_id],
            ).fetchone()[0]
            if found != expected:
                wrong.append([extract_id, table, expected, found])
        files = con.execute("SELECT count(*) FROM visma.files").fetchone()[0] if con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'visma' "
            "AND table_name = 'files'").fetchone()[0] else 0
        extracts = len({row[0] for row in registry})
        return {"t": time.time(), "extracts": extracts, "visma_files": files, "wrong": wrong}

    with log.open("a") as out:
        held = duckdb.connect(warehouse, read_only=True) if hold == "hold" else None
        while not stop.exists():
            try:
                if held is not None:
                    result = poll(held)
                else:
                    with duckdb.connect(warehouse, read_only=True) as con:
                        result = poll(con)
            except Exception as exc:
                result = {"t": time.time(), "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(result) + "\\n")
            out.flush()
            time.sleep(0.5)
""")


def _start_reader(user: Product, tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"reader-{mode}.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(user.warehouse), str(log), str(tmp_path / "stop"), mode]
    )
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().strip()):
        assert time.monotonic() < deadline and process.poll() is None, f"reader {mode} not started"
        time.sleep(0.1)
    return process, log


def _polls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_readers_never_block_the_syncs_and_only_see_whole_extracts(
    serve, product, tmp_path
) -> None:
    served_basware = serve(
        "basware", invoices="200", initial_deltas="0", delta_interval_seconds="0"
    )
    served_visma = serve("visma", **test_visma_live.SMALL)
    user = product(
        **basware.live_env(served_basware),
        **test_visma_live.live_env(served_visma),
        # Publish between the runs as well as at the end, as a long sync does every 30 s.
        P2P_PUBLISH_INTERVAL_SECONDS="0",
    )
    first = user.sync("basware")
    assert first.returncode == 0, output(first)
    assert f"Warehouse: {user.warehouse} is current (published" in first.stdout
    for _ in range(4):  # four daily deltas wait for export
        served_basware.admin("POST", "publish")

    holder, held_log = _start_reader(user, tmp_path, "hold")
    bouncer, bounce_log = _start_reader(user, tmp_path, "reconnect")
    started = time.time()
    try:
        synced_basware = user.sync("basware")
        synced_visma = user.sync("visma")
    finally:
        (tmp_path / "stop").touch()
        holder.wait(timeout=60)
        bouncer.wait(timeout=60)
    ended = time.time()

    for result in (synced_basware, synced_visma):
        assert result.returncode == 0, output(result)
        said = (result.stdout + result.stderr).replace("waiting for export", "")
        assert "waiting" not in said.lower(), output(result)  # no wait for a lock or a slot
    assert "4 extract(s) waiting for export, 4 loaded and acknowledged" in synced_basware.stdout

    held, bounced = _polls(held_log), _polls(bounce_log)
    for polls in (held, bounced):
        assert [p for p in polls if "error" in p] == []
        assert [p for p in polls if p["wrong"]] == []
    # The holder's one connection spanned both syncs and kept the snapshot it opened.
    assert held[0]["t"] < started and held[-1]["t"] > ended - 1
    assert {p["extracts"] for p in held} == {1}
    # The other reader saw the snapshots published meanwhile, each whole, never going back.
    seen = [p["extracts"] for p in bounced]
    assert seen == sorted(seen) and seen[0] == 1 and seen[-1] == 5, seen
    assert len(set(seen)) > 2, seen  # published between the runs, not only at the end

    after = user.query("SELECT count(*) FROM basware.extracts")
    assert after == [(5,)]
    basware.assert_truth(user, served_basware)
    test_visma_live.assert_truth(user, served_visma)
