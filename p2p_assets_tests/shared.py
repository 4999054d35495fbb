"""Data that several test modules generate the same way (a warehouse loaded from a sandbox tenant,
say) is built once per test session and read by every xdist worker: the first worker that asks
builds it under a file lock, in a directory named by what built it; the others wait, then use it.

Whoever uses it copies what it changes: the shared directory is read-only by agreement."""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DONE = ".built"


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every worker of this session shares: the parent of the workers' own base
    temp dirs under xdist (`pytest-N/popen-gwK`), the base temp dir without it."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "shared"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def built_once(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    key: Any,
    build: Callable[[Path], Path],
) -> Path:
    """What `build(directory)` returns, built once per session for this `name` and `key` (any
    JSON value: the settings the build depends on). A build that fails leaves nothing behind, so
    the next caller builds again (and fails the same way, in its own test)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    directory = session_root(tmp_path_factory) / f"{name}-{digest}"
    with _locked(directory.with_name(f"{directory.name}.lock")):
        done = directory / DONE
        if done.exists():
            return Path(done.read_text())
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        result = build(directory)
        done.write_text(str(result))
        return result
