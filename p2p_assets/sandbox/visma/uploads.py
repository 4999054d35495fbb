"""Upload parsing and checks: multipart/related bodies (CRLF line ends, metadata part first),
file-name rules and the extensions the File API refuses."""

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


def parse_multipart(content_type: str, body: bytes) -> Upload:
    """The metadata and media parts of a multipart/related body; LF-only bodies are refused."""
    delimiter = b"--" + _boundary(content_type).encode()
    if not body.startswith(delimiter + b"\r\n") or b"\r\n" + delimiter + b"--" not in body:
        raise UploadError(BAD_BOUNDARIES)
    body = body[: body.rindex(b"\r\n" + delimiter + b"--")]
    parts = body[len(delimiter) + 2 :].split(b"\r\n" + delimiter + b"\r\n")
    if len(parts) != 2:
        raise UploadError(BAD_BOUNDARIES)
    sections = []
    for part in parts:
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            if part.startswith(b"\r\n"):  # no header fields: "--boundary CRLF CRLF content"
                head, content = b"", part[2:]
            else:
                raise UploadError(BAD_BOUNDARIES)
        sections.append((head, content))
    (meta_head, meta), (_, media) = sections
    if b"application/json" not in meta_head.lower():
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
