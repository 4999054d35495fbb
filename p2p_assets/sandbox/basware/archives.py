"""Packing extract files (gzip, zip with one or several members, or plain) and the corrupted
versions the `corrupt_files` fault serves.

Packing is deterministic (gzip mtime 0, the zip entries dated by the extract's time), so a config
always gives byte-identical files.
"""

import gzip
import hashlib
import io
import zipfile
from datetime import datetime

# Fast over small: a million-row benchmark extract must be written in seconds, not minutes.
COMPRESS_LEVEL = 1
SUFFIX = {"gz": ".gz", "zip": ".zip", "none": ""}
_CORRUPTED_AT = datetime(2024, 1, 1)

Members = list[tuple[str, bytes]]


def pack(members: Members, compression: str, when: datetime) -> bytes:
    """One file's bytes: a zip holds every member, gzip and plain files only the first."""
    if compression == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
        return buffer.getvalue()
    data = members[0][1]
    if compression == "gz":
        return gzip.compress(data, compresslevel=COMPRESS_LEVEL, mtime=0)
    return data


def unpack(content: bytes, compression: str, name: str) -> Members:
    """The members of file `name` (a gzip or plain file has one, named like the file)."""
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return [(member, archive.read(member)) for member in archive.namelist()]
    if compression == "gz":
        return [(name.removesuffix(".gz"), gzip.decompress(content))]
    return [(name, content)]


def corrupt(content: bytes, kind: str, name: str, compression: str) -> bytes:
    """The file as the `corrupt_files` fault serves it.

    truncated: the first half of the bytes (a cut archive, or cut JSON/CSV when uncompressed);
    garbage: unreadable bytes inside a valid archive (every member); wrong_count: a valid file
    whose first member holding records lost its last one, so the file holds one record fewer
    than the extract delivered.
    """
    if kind == "truncated":
        return content[: max(1, len(content) // 2)]
    members = unpack(content, compression, name)
    if kind == "garbage":
        seed = hashlib.sha256(name.encode()).digest()
        noise = b"\x00\xff" + b"".join(
            hashlib.sha256(seed + bytes([i])).digest() for i in range(64)
        )
        members = [(member, noise) for member, _ in members]
    else:
        for position, (member, data) in enumerate(members):
            shorter = _without_last_record(data, member)
            if shorter != data:
                members[position] = (member, shorter)
                break
    return pack(members, compression, _CORRUPTED_AT)


def _without_last_record(data: bytes, member: str) -> bytes:
    text = data.decode("utf-8")
    if member.endswith(".csv"):
        lines = text.split("\r\n")  # generated values never contain line breaks
        body = [line for line in lines[1:] if line]
        if not body:
            return data
        return ("\r\n".join([lines[0], *body[:-1]]) + "\r\n").encode("utf-8")
    records = [line.rstrip(",") for line in text.splitlines()[1:-1]]
    if not records:
        return data
    shorter = "[\n" + ",\n".join(records[:-1]) + "\n]\n" if len(records) > 1 else "[]\n"
    return shorter.encode("utf-8")
