"""Cross-process locks and owner-only files, for token caches, the pacer and the sync lock.

`fcntl.flock` serialises processes on one machine (Dagster runs each step in its own process);
a per-path `threading.Lock` serialises threads of one process as well, because two threads that
open the lock file separately would otherwise depend on flock semantics per open file.
"""

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (owner-only when we create it)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


@contextmanager
def file_lock(
    path: Path,
    *,
    waiting: Callable[[float], None] | None = None,
    report_every: float = 30.0,
    give_up_after: float | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600 if missing) against threads and processes.

    `waiting(seconds)` is called when the lock is held elsewhere, then every `report_every`
    seconds until it is ours, so a wait says what it waits for; after `give_up_after` seconds
    `LockTimeout` is raised.
    """
    ensure_private_dir(path.parent)
    with _thread_lock(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _acquire(fd, waiting, report_every, give_up_after, path)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class LockTimeout(TimeoutError):
    """A lock stayed held elsewhere for longer than the caller would wait."""


def _acquire(
    fd: int,
    waiting: Callable[[float], None] | None,
    report_every: float,
    give_up_after: float | None,
    path: Path,
) -> None:
    if waiting is None and give_up_after is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    started = time.monotonic()
    reported = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - started
            if give_up_after is not None and waited >= give_up_after:
                raise LockTimeout(f"{path} stayed locked for {waited:.0f} s") from None
            if waiting is not None and (reported is None or waited - reported >= report_every):
                waiting(waited)
                reported = waited
            time.sleep(0.2)


def write_private_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` atomically; the file is created 0600 (mkstemp), never chmod'ed.
    `durable=False` skips the fsync: for counters rewritten on every call, where a power cut may
    lose the last few but a crashed process never leaves a torn file."""
    ensure_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
