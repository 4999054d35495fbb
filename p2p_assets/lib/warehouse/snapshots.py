"""The warehouse users query is a published snapshot; the pipeline writes a private working file.

DuckDB lets one process write a file and no other process read it meanwhile, so a user's open
session and the pipeline's writers cannot share one file. The pipeline's writers (the `duckdb`
pool) use the working file `{P2P_WAREHOUSE}.work/warehouse.duckdb`; `publish` copies it, after a
checkpoint and while holding its write lock (so the copy is one committed state), to a temporary
file beside `P2P_WAREHOUSE`, made read-only, and renames it over `P2P_WAREHOUSE`. A reader's open
connection keeps the file it opened (its inode), and the kernel frees an old snapshot when its last
reader closes it; a new connection opens the newest one. A crash at any point leaves either the old
or the new snapshot under the name, whole; a failed copy (a full disk) removes its temporary file
and keeps the last good snapshot.

Publishing costs a copy of the whole file, so it is batched: `due` allows a publish when something
changed and the last one is at least `P2P_PUBLISH_INTERVAL_SECONDS` (default 30) old, and at
least nine times its own duration, so publishing never takes more than a tenth of the time.
"""

import contextlib
import errno
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from p2p_assets import settings
from p2p_assets.lib.locks import file_lock
from p2p_assets.lib.warehouse.connection import connect

INTERVAL_VARIABLE = "P2P_PUBLISH_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 30.0
COST_FACTOR = 9  # the pause after a publish is at least this many times its duration
_SPARE_BYTES = 64 * 1024 * 1024  # room left on the disk beyond the copy itself
_CHUNK = 64 * 1024 * 1024


class PublishError(RuntimeError):
    """A snapshot could not be published; the last good one stays in place."""


def interval_from_env() -> float:
    return settings.seconds_from_env(INTERVAL_VARIABLE, DEFAULT_INTERVAL_SECONDS)


@dataclass(frozen=True)
class Layout:
    """Where one warehouse's files are, all derived from the published path."""

    published: Path

    @property
    def work_dir(self) -> Path:
        return self.published.parent / f"{self.published.name}.work"

    @property
    def working(self) -> Path:
        return self.work_dir / "warehouse.duckdb"

    @property
    def state_file(self) -> Path:
        return self.work_dir / "published.json"

    @property
    def lock_file(self) -> Path:
        return self.work_dir / "publish.lock"

    def temporary(self) -> Path:
        return self.published.parent / f".{self.published.name}.publishing-{os.getpid()}"

    def stale_temporaries(self) -> list[Path]:
        prefix = f".{self.published.name}.publishing-"
        return [p for p in self.published.parent.iterdir() if p.name.startswith(prefix)]


def layout(published: Path | None = None) -> Layout:
    return Layout((published or settings.warehouse_path()).resolve())


@dataclass(frozen=True)
class Published:
    """The snapshot under `P2P_WAREHOUSE` now: the working file's version it copies, when it was
    published, how long the copy took and how big it is."""

    version: str
    published_at: str  # ISO 8601, UTC
    seconds: float
    bytes: int

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.published_at)


def read_state(where: Layout) -> Published | None:
    try:
        return Published(**json.loads(where.state_file.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _write_state(where: Layout, state: Published) -> None:
    partial = where.state_file.with_name(where.state_file.name + ".partial")
    partial.write_text(json.dumps(asdict(state)))
    partial.replace(where.state_file)


def working_version(where: Layout) -> str | None:
    """The working file's version: its size and modification time, and its WAL's (a writer's
    commit changes one of them; reading changes neither). None when there is no working file."""
    try:
        main = where.working.stat()
    except FileNotFoundError:
        return None
    try:
        wal = Path(f"{where.working}.wal").stat()
        wal_part = f"{wal.st_size}@{wal.st_mtime_ns}"
    except FileNotFoundError:
        wal_part = "-"
    return f"{main.st_size}@{main.st_mtime_ns}+{wal_part}"


def ensure_working(where: Layout) -> Path:
    """The working file, created from the published warehouse the first time (an installation
    from before snapshots: its `P2P_WAREHOUSE` was written in place, perhaps with a WAL)."""
    if where.working.exists():
        return where.working
    where.work_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(where.lock_file):
        if where.working.exists() or not where.published.exists():
            return where.working
        for suffix in ("", ".wal"):
            source = Path(f"{where.published}{suffix}")
            if source.exists():
                partial = Path(f"{where.working}{suffix}.partial")
                shutil.copyfile(source, partial)
                partial.chmod(0o644)
                partial.replace(Path(f"{where.working}{suffix}"))
    return where.working


def pending(where: Layout) -> bool:
    """Has the working file changed since the snapshot under `P2P_WAREHOUSE` was taken?"""
    version = working_version(where)
    if version is None:
        return False
    state = read_state(where)
    return state is None or state.version != version or not where.published.exists()


def next_due(where: Layout, interval: float | None = None) -> datetime | None:
    """When a publish is next allowed (now or in the past: allowed now); None if nothing changed."""
    if not pending(where):
        return None
    state = read_state(where)
    if state is None or not where.published.exists():
        return datetime.now(UTC)
    pause = max(interval_from_env() if interval is None else interval, COST_FACTOR * state.seconds)
    return state.when + timedelta(seconds=pause)


def due(where: Layout, interval: float | None = None) -> bool:
    when = next_due(where, interval)
    return when is not None and when <= datetime.now(UTC)


def publish(where: Layout, *, wait_seconds: float | None = None) -> Published | None:
    """Publish the working file's committed state as `P2P_WAREHOUSE`; None when nothing changed.

    Holds the working file's write lock (DuckDB's own: writers wait, `wait_seconds`) from the
    checkpoint to the rename, so the copy is one committed state.
    """
    if not where.working.exists():
        return None
    with file_lock(where.lock_file):
        for stale in where.stale_temporaries():  # a publish killed mid-copy
            stale.unlink(missing_ok=True)
        with connect(where.working, wait_seconds=wait_seconds) as con:
            con.execute("CHECKPOINT")  # the WAL into the file: the file alone is the database
            version = working_version(where)
            previous = read_state(where)
            if previous and previous.version == version and where.published.exists():
                return None
            started = time.monotonic()
            size = where.working.stat().st_size
            _copy_and_rename(where, size, previous)
            state = Published(
                version=version or "",
                published_at=datetime.now(UTC).isoformat(timespec="seconds"),
                seconds=round(time.monotonic() - started, 3),
                bytes=size,
            )
        _write_state(where, state)
    return state


def _copy_and_rename(where: Layout, size: int, previous: Published | None) -> None:
    kept = (
        f"the snapshot published at {previous.published_at} stays in place"
        if previous and where.published.exists()
        else "nothing is published yet"
    )
    free = shutil.disk_usage(where.published.parent).free
    if free < size + _SPARE_BYTES:
        raise PublishError(
            f"cannot publish the warehouse to {where.published}: {size / 1e6:.0f} MB needed, "
            f"{free / 1e6:.0f} MB free on its disk; {kept}"
        )
    temporary = where.temporary()
    try:
        _copy(where.working, temporary)
        temporary.chmod(0o444)  # a snapshot is for reading: a writer would be overwritten
        # A WAL beside the published name belongs to a snapshot someone opened for writing; left
        # there, DuckDB would replay it into the next snapshot.
        Path(f"{where.published}.wal").unlink(missing_ok=True)
        temporary.replace(where.published)
        _fsync_directory(where.published.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else str(exc)
        raise PublishError(
            f"publishing the warehouse to {where.published} failed: {reason}; {kept}"
        ) from exc


def _copy(source: Path, target: Path) -> None:
    """Copy in the kernel (`copy_file_range`: a reflink on filesystems that have them), then
    fsync, so the rename never exposes a file whose blocks are not on disk yet."""
    with open(source, "rb") as src, open(target, "xb") as dst:
        remaining = os.fstat(src.fileno()).st_size
        try:
            while remaining > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), min(remaining, _CHUNK))
                if copied == 0:
                    break
                remaining -= copied
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, _CHUNK)
        dst.flush()
        os.fsync(dst.fileno())


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
