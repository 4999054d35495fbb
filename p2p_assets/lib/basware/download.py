"""Landing one downloaded body on disk: stream, hash, verify, fsync, rename.

A file appears under its final name only once it is complete and on disk, so a crash, a cut
connection or a full disk never leaves something that looks landed. Anything under a `.partial`
name is garbage from an interrupted attempt.
"""

import hashlib
import logging
import os
from pathlib import Path

import httpx

from p2p_assets.lib.basware.errors import BaswareDownloadError, BaswareResponseError
from p2p_assets.lib.basware.models import LandedFile
from p2p_assets.lib.files import is_plain_file_name, partial_path

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


def safe_file_name(file_name: str) -> str:
    """The vendor's file name, refused if it could escape the landing directory."""
    if not is_plain_file_name(file_name):
        raise BaswareResponseError(f"Basware file name {file_name!r} is not a plain file name")
    return file_name


def land_response(response: httpx.Response, final_path: Path) -> LandedFile:
    """Write a streamed response body to `final_path` atomically and return its size and sha256.

    The bytes are stored as delivered when the file is itself compressed (`.gz` sent with
    `Content-Encoding: gzip` by a storage service stays a gzip file), otherwise decoded. The
    announced `Content-Length` (which counts bytes on the wire) is checked against what arrived.
    On any failure the `.partial` file is removed and the error propagates.
    """
    partial = partial_path(final_path)
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as handle:
            # A response read already (as `httpx.MockTransport` hands them out) only has its
            # decoded content left; one from the network is still a stream of raw bytes.
            raw = _keep_encoded(final_path.name, response) and not response.is_stream_consumed
            chunks = response.iter_raw(_CHUNK) if raw else response.iter_bytes(_CHUNK)
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            _check_length(response, final_path.name)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_directory(final_path.parent)
    return LandedFile(path=final_path, size=size, sha256=digest.hexdigest())


def _keep_encoded(file_name: str, response: httpx.Response) -> bool:
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return True
    return encoding in ("gzip", "x-gzip") and file_name.lower().endswith(".gz")


def _check_length(response: httpx.Response, file_name: str) -> None:
    announced = response.headers.get("Content-Length")
    if announced is None:
        return
    try:
        expected = int(announced)
    except ValueError:
        log.debug("Ignoring unreadable Content-Length %r for %s", announced, file_name)
        return
    received = response.num_bytes_downloaded
    if received != expected:
        raise BaswareDownloadError(
            f"Basware download of {file_name} is incomplete: {received} of {expected} bytes"
        )


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort where directories cannot be opened."""
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
