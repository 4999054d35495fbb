"""Upload parsing and checks: multipart/related bodies as RFC 2046 defines them (CRLF line ends,
metadata part first, media part with or without header fields), file-name rules and the
extensions the File API refuses."""

import json
import re
import uuid
from dataclasses import dataclass

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9\-_.(),$+`=']+$")
# "Malicious file extensions are not allowed": executable and script types.
REJECTED_EXTENSIONS = frozenset(
    "exe bat cmd com cpl dll msi msp scr pif vbs vbe js jse jar wsf wsh ws ps1 psm1 sh hta"
    " reg lnk msc gadget application inf sys".split()
)
BAD_BOUNDARIES = "Error reading body of request. Please, check all the boundaries of the request"


class UploadError(ValueError):
    """An upload the API answers with 400 and this message."""


def error_body(message: str) -> dict:
    """The PascalCase 400 body of the upload endpoints."""
    return {
        "CorrelationId": f"rrt-{uuid.uuid4().hex[:17]}",
        "Message": message,
        "ErrorCode": "400",
        "Exception": None,
    }


@dataclass(frozen=True)
class Upload:
    name: str
    business_type: int
    content: bytes


def check_name(name: str) -> None:
    if not name or not NAME_PATTERN.match(name):
        raise UploadError(f"The file name '{name}' contains characters that are not allowed")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in REJECTED_EXTENSIONS:
        raise UploadError(f"The file extension '.{extension}' is not allowed")


def _boundary(content_type: str) -> str:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        raise UploadError("Content-Type must be multipart/related with a boundary")
    match = re.search(r'boundary="?([^";]+)"?', params)
    if not match:
        raise UploadError(BAD_BOUNDARIES)
    return match.group(1).strip()


def _delimiter_end(data: bytes, after: int) -> tuple[int, bool] | None:
    """Where the part after a boundary that ends at `after` starts, and whether it was the close
    delimiter (`--boundary--`); None when the boundary's text is no delimiter line there (RFC 2046:
    the boundary, optional spaces or tabs, CRLF)."""
    if data.startswith(b"--", after):
        return after + 2, True
    line_end = data.find(b"\r\n", after)
    if line_end < 0 or data[after:line_end].strip(b" \t"):
        return None
    return line_end + 2, False


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts of a multipart body, preamble and epilogue dropped (RFC 2046 5.1.1).

    The CRLF before a boundary belongs to the delimiter, so a CRLF is put in front of the body
    for the first boundary (the body need not have a preamble) to be found like the others.
    """
    data, delimiter = b"\r\n" + body, b"\r\n--" + boundary
    parts: list[bytes] = []
    start, search = None, 0
    while (at := data.find(delimiter, search)) >= 0:
        search = at + len(delimiter)
        found = _delimiter_end(data, search)
        if found is None:  # the boundary's text inside a line: not a delimiter
            continue
        if start is not None:
            parts.append(data[start:at])
        start, closed = found
        search = start
        if closed:
            if parts:
                return parts
            break
    raise UploadError(BAD_BOUNDARIES)


def _split_part(part: bytes) -> tuple[bytes, bytes]:
    """(header block, content): the headers end at the first CRLF CRLF, and a part that starts
    with CRLF (or is empty) has no header fields, so its content is everything after that CRLF."""
    if not part or part.startswith(b"\r\n"):
        return b"", part[2:]
    head, separator, content = part.partition(b"\r\n\r\n")
    if not separator:
        raise UploadError(BAD_BOUNDARIES)
    return head, content


def _content_type(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            return value.decode("latin-1").strip().lower()
    return ""


def parse_multipart(content_type: str, body: bytes) -> Upload:
    """The metadata and media parts of a multipart/related body; LF-only bodies are refused (the
    guide: "replace every \\n with \\r\\n")."""
    parts = _parts(body, _boundary(content_type).encode())
    if len(parts) != 2:
        raise UploadError(BAD_BOUNDARIES)
    (meta_head, meta), (_, media) = (_split_part(part) for part in parts)
    if not _content_type(meta_head).startswith("application/json"):
        raise UploadError("The metadata part must be application/json")
    try:
        metadata = {str(k).lower(): v for k, v in json.loads(meta).items()}
        name = str(metadata.get("name") or metadata.get("filename") or "")
        business_type = int(metadata.get("businesstypeid") or 0)
    except (ValueError, AttributeError, TypeError) as exc:
        raise UploadError("The metadata part is not valid JSON metadata") from exc
    if not business_type:
        raise UploadError("BusinessTypeId is required")
    check_name(name)
    return Upload(name, business_type, media)
