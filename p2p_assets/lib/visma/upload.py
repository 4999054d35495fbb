"""Building File API uploads: file-name rules, multipart/related bodies and chunking.

The manual allows only `[a-z] [A-Z] [0-9] - _ . ( ) , $ + ` = '` in file names and refuses
"malicious" extensions without listing them; the list below is the usual executable and script
set, checked on every dot-separated suffix (so `report.exe.txt` is refused too). Checking before
sending saves a call from the plan's quota and gives a clear error instead of a 400.
"""

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from p2p_assets.lib.visma.errors import VismaFileNameError

MULTIPART_LIMIT = 100 * 1024 * 1024
"""Files up to this size go in one multipart request; larger ones are uploaded resumably."""
RESUMABLE_CHUNK = 4 * 1024 * 1024
"""The chunk size the manual recommends for resumable uploads."""
MAX_CHUNK = 9 * 1024 * 1024
MAX_NAME_LENGTH = 255

_ALLOWED = re.compile(r"^[A-Za-z0-9\-_.(),$+`=']+$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\-_.(),$+`=']")
BLOCKED_EXTENSIONS: frozenset[str] = frozenset(
    {
        "exe", "com", "bat", "cmd", "scr", "pif", "msi", "msp", "dll", "cpl", "sys", "vbs",
        "vbe", "js", "jse", "wsf", "wsh", "ws", "hta", "ps1", "psm1", "psd1", "jar", "lnk",
        "reg", "scf", "inf", "sh", "app", "gadget", "application", "msc",
    }
)  # fmt: skip


def validate_file_name(name: str) -> str:
    """`name` if the File API accepts it, else `VismaFileNameError` saying why."""
    if not name:
        raise VismaFileNameError("Visma file name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise VismaFileNameError(
            f"Visma file name {name!r} is longer than {MAX_NAME_LENGTH} characters"
        )
    if not _ALLOWED.match(name):
        bad = sorted(set(_NOT_ALLOWED.findall(name)))
        raise VismaFileNameError(
            f"Visma file name {name!r} contains characters the File API refuses: {bad!r}; "
            "allowed are letters, digits and - _ . ( ) , $ + ` = '"
        )
    if name.strip(".") == "":
        raise VismaFileNameError(f"Visma file name {name!r} is not a file name")
    suffixes = {part.lower() for part in name.split(".")[1:]}
    blocked = sorted(suffixes & BLOCKED_EXTENSIONS)
    if blocked:
        raise VismaFileNameError(
            f"Visma file name {name!r} has an extension the File API refuses: {blocked!r}"
        )
    return name


def new_boundary(content: bytes) -> str:
    """A boundary (at most 70 characters) that does not occur in `content`."""
    while True:
        boundary = f"p2p_{secrets.token_hex(16)}"
        if boundary.encode() not in content:
            return boundary


def multipart_related(name: str, business_type_id: int | str, content: bytes) -> tuple[str, bytes]:
    """(Content-Type header, body) of a multipart/related upload, every line ending in CRLF.

    The metadata part is the JSON the File API reads, `{"name": ..., "businesstypeid": "7100"}`
    (the id as a string); the media part has no headers of its own.
    """
    boundary = new_boundary(content)
    metadata = json.dumps({"name": name, "businesstypeid": str(business_type_id)}).encode()
    delimiter = f"--{boundary}\r\n".encode()
    body = b"".join(
        [
            delimiter,
            b"Content-Type: application/json; charset=UTF-8\r\n\r\n",
            metadata,
            b"\r\n",
            delimiter,
            b"\r\n",
            content,
            b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
    )
    return f"multipart/related; boundary={boundary}", body


def read_chunks(path: Path, chunk_size: int) -> Iterator[bytes]:
    """The file in chunks of `chunk_size` bytes (the last one shorter); one empty chunk if empty."""
    with path.open("rb") as handle:
        chunk = handle.read(chunk_size)
        yield chunk
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                return
            yield chunk
