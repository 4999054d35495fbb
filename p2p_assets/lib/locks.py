"""Cross-process locks and owner-only files, for token caches, the pacer and the sync lock.

`fcntl.flock` serialises processes on one machine (Dagster runs each step in its own process);
a per-path `threading.Lock` serialises threads of one process as well, because two threads that
open the lock file separately would otherwise depend on flock semantics per open file.
"""

import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator
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
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600 if missing) against threads and processes."""
    ensure_private_dir(path.parent)
    with _thread_lock(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def write_private_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; the file is created 0600 (mkstemp), never chmod'ed."""
    ensure_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
