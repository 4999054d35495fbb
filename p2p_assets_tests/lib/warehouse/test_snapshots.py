"""The published snapshot: whole, read-only, replaced atomically, bounded on disk, crash-safe."""

import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from p2p_assets.lib.warehouse import snapshots
from p2p_assets.lib.warehouse.connection import connect


def _write(where: snapshots.Layout, rows: int, *, table: str = "t") -> None:
    with connect(snapshots.ensure_working(where)) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} (i BIGINT, s VARCHAR)")
        con.execute(f"INSERT INTO {table} SELECT range, md5(range::VARCHAR) FROM range(?)", [rows])


def _count(path: Path, table: str = "t") -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_publish_makes_a_read_only_copy_of_what_is_committed(tmp_path: Path):
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    assert snapshots.publish(where) is None  # nothing written yet: nothing to publish
    _write(where, 1000)
    assert snapshots.pending(where)
    state = snapshots.publish(where)
    assert state is not None and state.bytes == where.published.stat().st_size
    assert _count(where.published) == 1000
    assert stat.S_IMODE(where.published.stat().st_mode) == 0o444
    assert not snapshots.pending(where)
    assert snapshots.publish(where) is None  # unchanged: not copied again
    _write(where, 5)
    assert snapshots.pending(where)
    assert snapshots.publish(where) is not None
    assert _count(where.published) == 1005
    with pytest.raises(duckdb.Error):  # the snapshot is for reading only
        with duckdb.connect(str(where.published), read_only=True) as con:
            con.execute("INSERT INTO t VALUES (1, 'x')")


def test_an_open_reader_keeps_its_snapshot_and_old_ones_are_freed(tmp_path: Path):
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    _write(where, 10)
    snapshots.publish(where)
    reader = duckdb.connect(str(where.published), read_only=True)
    try:
        for n in range(3):  # three newer snapshots while the reader holds the first
            _write(where, 10)
            snapshots.publish(where)
            assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 10
            assert _count_in_subprocess(where.published) == 10 * (n + 2)
        # Only the reader's snapshot is kept beside the newest: no copies pile up on disk.
        deleted = [
            link for link in _open_files() if link.endswith("(deleted)") and "warehouse" in link
        ]
        assert len(deleted) == 1, deleted
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "warehouse.duckdb",
            "warehouse.duckdb.work",
        ]
    finally:
        reader.close()
    assert not [link for link in _open_files() if "warehouse" in link]


def _count_in_subprocess(path: Path) -> int:
    code = f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True)"
    code += ".execute('SELECT count(*) FROM t').fetchone()[0])"
    return int(subprocess.check_output([sys.executable, "-c", code], text=True))


def _open_files() -> list[str]:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return links


def test_an_installation_from_before_snapshots_is_adopted_with_its_wal(tmp_path: Path):
    published = tmp_path / "warehouse.duckdb"
    code = textwrap.dedent(f"""
        import duckdb, os
        con = duckdb.connect({str(published)!r})
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100)")
        con.execute("CHECKPOINT")
        con.execute("INSERT INTO t SELECT range FROM range(7)")  # only in the WAL
        os._exit(0)  # killed: no checkpoint at close
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert Path(f"{published}.wal").exists()
    where = snapshots.layout(published)
    snapshots.ensure_working(where)
    assert snapshots.pending(where)
    snapshots.publish(where)
    assert _count(published) == 107
    assert not Path(f"{published}.wal").exists()


def test_a_stale_wal_beside_the_snapshot_is_not_replayed_into_the_next(tmp_path: Path):
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    _write(where, 3)
    snapshots.publish(where)
    Path(f"{where.published}.wal").write_bytes(b"not ours")
    _write(where, 3)
    snapshots.publish(where)
    assert not Path(f"{where.published}.wal").exists()
    assert _count(where.published) == 6


def test_due_waits_the_interval_and_nine_times_the_last_publish(tmp_path: Path):
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    _write(where, 3)
    assert snapshots.due(where, interval=30)  # never published: at once
    snapshots.publish(where)
    assert snapshots.next_due(where, interval=30) is None  # nothing new
    _write(where, 3)
    assert not snapshots.due(where, interval=30)
    assert snapshots.due(where, interval=0)
    state = snapshots.read_state(where)
    slow = snapshots.Published(state.version, state.published_at, 100.0, state.bytes)
    snapshots._write_state(where, slow)
    assert (snapshots.next_due(where, interval=0) - state.when).total_seconds() == 900


def test_a_file_size_limit_mid_copy_fails_the_publish_and_keeps_the_last_snapshot(tmp_path: Path):
    """The copy fails part-way (here the kernel's file size limit; a full disk fails the same
    write): the temporary file goes, the published snapshot stays whole."""
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    _write(where, 10)
    snapshots.publish(where)
    _write(where, 2_000_000)
    limit = where.published.stat().st_size + 1_000_000
    code = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from p2p_assets.lib.warehouse import snapshots
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        try:
            snapshots.publish(snapshots.layout(Path({str(where.published)!r})))
        except snapshots.PublishError as exc:
            print(exc)
            sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "publishing the warehouse" in done.stdout and "stays in place" in done.stdout
    assert _count(where.published) == 10
    assert where.stale_temporaries() == []
    assert snapshots.pending(where)
    assert resource.getrlimit(resource.RLIMIT_FSIZE)  # this process was not limited


def test_a_full_disk_is_refused_before_copying(tmp_path: Path):
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        where = snapshots.layout(disk / "warehouse.duckdb")
        _write(where, 10)
        snapshots.publish(where)
        _write(where, 600_000)  # the working file takes most of the disk: no room for a copy
        with pytest.raises(snapshots.PublishError, match="MB free on its disk; the snapshot"):
            snapshots.publish(where)
        assert _count(where.published) == 10
        assert where.stale_temporaries() == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_kill_9_while_publishing_never_leaves_the_warehouse_unreadable(tmp_path: Path):
    where = snapshots.layout(tmp_path / "warehouse.duckdb")
    _write(where, 3_000_000)
    snapshots.publish(where)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from p2p_assets.lib.warehouse import snapshots
        from p2p_assets.lib.warehouse.connection import connect
        where = snapshots.layout(Path({str(where.published)!r}))
        while True:
            with connect(where.working) as con:
                con.execute("INSERT INTO t SELECT range, 'x' FROM range(1000)")
            snapshots.publish(where)
    """)
    for _ in range(4):
        worker = subprocess.Popen([sys.executable, "-c", code])
        deadline = time.monotonic() + 30
        while not where.stale_temporaries() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert where.stale_temporaries(), "the worker never started copying"
        worker.send_signal(signal.SIGKILL)  # mid-copy: its temporary file is there
        worker.wait()
        rows = _count(where.published)  # whole, readable, and whole inserts only
        assert rows >= 3_000_000 and rows % 1000 == 0
    _write(where, 1)
    snapshots.publish(where)  # the next publish clears what a killed one left
    assert where.stale_temporaries() == []
    assert _count(where.published) % 1000 == 1
