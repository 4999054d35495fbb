"""Resumable downloads on disk: the `.partial` file, its offset, and the final atomic rename.

Bytes are appended to `<name>.partial` as they arrive, so after a dropped connection the next
Range request starts at the partial file's size instead of at zero (as the vendor's scripts do).
A file appears under its final name only when its size is verified and it is on disk.
"""

import hashlib
import os
import re
from pathlib import Path

from p2p_assets.lib.files import name_problem
from p2p_assets.lib.visma.errors import VismaDownloadError, VismaResponseError

VISMA_NAME = re.compile(r"[A-Za-z0-9_.\-(),$+`=']+")
"""The characters the manual allows in a file name: [a-z] [A-Z] [0-9] - _ . ( ) , $ + ` = '."""
# Our bookkeeping beside each landed file (see landing.py); a file of that name is refused.
LANDING_NAMES = ("file.json", "landed.json", "rejected", "gone.json", "skipped.json")

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)


def safe_file_name(file_name: str) -> str:
    """The vendor's file name, refused unless it is a plain name (see `lib/files.py`)."""
    problem = name_problem(file_name, pattern=VISMA_NAME, reserved=LANDING_NAMES)
    if problem:
        raise VismaResponseError(f"Visma file name {file_name!r} is refused: {problem}")
    return file_name


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """`bytes 0-49/107` -> (0, 49, 107); `bytes */107` -> (None, None, 107); unreadable -> Nones."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None, None
    first, last, total = match.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total not in (None, "*") else None,
    )


def finish(partial: Path, final_path: Path, expected_size: int) -> tuple[Path, int, str]:
    """Verify the partial file's size, fsync it, rename it into place; (path, size, sha256)."""
    size = partial.stat().st_size
    if size != expected_size:
        raise VismaDownloadError(
            f"Visma download of {final_path.name} is {size} bytes, expected {expected_size}; "
            f"kept {partial.name} for inspection"
        )
    digest = hashlib.sha256()
    with partial.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
        os.fsync(handle.fileno())
    os.replace(partial, final_path)
    _fsync_directory(final_path.parent)
    return final_path, size, digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
