"""The storage host getFile redirects to when the config names one (`storage_host`): it answers
pre-signed URLs as S3 does, so a client meets what Basware's file downloads really meet.

    GET|HEAD /{extract_id}/{file}?expires=<epoch seconds>&signature=<hex HMAC-SHA256>

The signature covers the extract, the file and the expiry, keyed by the state's signing key, so
every process serving the state dir accepts URLs any of them issued. A request that also carries
an Authorization header (a client that re-sends the API's credentials after the redirect, as the
manual's "include all headers" advice would have it) is refused with S3's 400 InvalidArgument and
does not count as a download; a missing, wrong or expired signature gets 403. Otherwise the
download counts against the same limit as on the API host, with the same download faults.
"""

import hashlib
import hmac
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from p2p_assets.sandbox.basware import downloads
from p2p_assets.sandbox.http import Request, Response, Router

if TYPE_CHECKING:
    from p2p_assets.sandbox.basware.sandbox import BaswareSandbox

PRESIGNED_SECONDS = 900
NO_SUCH_KEY = "The specified key does not exist."
NOT_ALLOWED = "The specified method is not allowed against this resource."
ONE_AUTH_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)


def signature(key: bytes, extract_id: str, name: str, expires: int) -> str:
    message = f"GET\n{extract_id}\n{name}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def presigned_url(
    storage_url: str, key: bytes, extract_id: str, name: str, expires: int | None = None
) -> str:
    """`{storage_url}/{extract_id}/{file}?expires=...&signature=...`, valid until `expires`
    (default: PRESIGNED_SECONDS from now)."""
    expires = int(time.time()) + PRESIGNED_SECONDS if expires is None else expires
    query = urlencode({"expires": expires, "signature": signature(key, extract_id, name, expires)})
    return f"{storage_url}/{quote(extract_id, safe='')}/{quote(name, safe='')}?{query}"


def s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(status, {"Content-Type": "application/xml"}, body.encode("utf-8"))


class StorageApp:
    """`app(request) -> response` for the storage host of one `BaswareSandbox`."""

    def __init__(self, sandbox: "BaswareSandbox"):
        self.sandbox = sandbox
        self.router = Router(
            not_found=lambda _: s3_error(404, "NoSuchKey", "The specified key does not exist."),
            method_not_allowed=lambda _: s3_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ),
        )
        self.router.add("GET", "/{extract_id}/{file_name}", self.get)

    def __call__(self, request: Request) -> Response:
        if "authorization" in request.headers:
            return s3_error(400, "InvalidArgument", ONE_AUTH_MECHANISM)
        return self.router(request)

    def get(self, request: Request) -> Response:
        extract_id = request.path_params["extract_id"]
        name = request.path_params["file_name"]
        expires, given = request.query.get("expires", ""), request.query.get("signature", "")
        if not expires.isdigit() or not given:
            return s3_error(403, "AccessDenied", "Query-string authentication requires the "
                                                 "signature and expires parameters")  # fmt: skip
        expected = signature(self.sandbox.state.signing_key(), extract_id, name, int(expires))
        if not hmac.compare_digest(expected, given):
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if int(expires) < time.time():
            return s3_error(403, "AccessDenied", "Request has expired")
        index = self.sandbox.extract_index(extract_id)
        response = None
        if index is not None:
            response = downloads.file_response(
                self.sandbox,
                request,
                extract_id,
                index,
                name,
                refused=lambda: s3_error(
                    403, "AccessDenied", downloads.limit_message(self.sandbox, extract_id, name)
                ),
            )
        if response is None:
            return s3_error(404, "NoSuchKey", NO_SUCH_KEY)
        return response
