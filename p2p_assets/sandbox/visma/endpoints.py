"""The File API's `/v1.0` endpoints for files delivered and uploaded: lists, HEAD/GET (ranged)
downloads, delete, business types (uploads: `publishing.py`). Authentication and throttling happen
before (see `app.py`).

Retention, on the sandbox clock: a file whose content Visma has deleted (a month after delivery)
stays listed but answers 404 "File content is no longer available."; once its metadata is deleted
too (six months) it leaves the lists and answers 404 "File not found.".
"""

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from p2p_assets.sandbox.http import Request, Response
from p2p_assets.sandbox.visma import filters, uploads
from p2p_assets.sandbox.visma.config import BUSINESS_TYPE_NAMES
from p2p_assets.sandbox.visma.dates import format_date, utc

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox

CONTENT_EXPIRED = "File content is no longer available."


class StreamBody:
    """A streamed body that reports full delivery (`on_complete`) and its end (`on_close`)."""

    def __init__(self, chunks: Iterable[bytes], on_complete: Callable[[], None] | None = None):
        self._chunks = chunks
        self.on_complete = on_complete
        self.on_close: list[Callable[[], None]] = []

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self.on_complete is not None:
            self.on_complete()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback()


def camel_error(status: int, message: str) -> Response:
    body = {"correlationId": None, "message": message, "errorCode": str(status), "exception": None}
    return Response.json(body, status)


def bad_request(message: str) -> Response:
    return Response.json(uploads.error_body(message), 400)


def forbidden(message: str) -> Response:
    return Response.json({"message": message, "errorCode": "forbidden", "statusCode": 403}, 403)


def business_type(type_id: int) -> dict[str, Any]:
    return {"id": type_id, "name": str(type_id)}


def _role(request: Request) -> str | None:
    role = request.query.get("role", "subscriber").lower()
    return role if role in ("subscriber", "publisher") else None


class FileEndpoints:
    def __init__(self, sandbox: "VismaSandbox"):
        self.sandbox = sandbox
        self.state = sandbox.state
        self.config = sandbox.config

    # -- lists ----------------------------------------------------------------------------------
    def list_files(self, request: Request) -> Response:
        role = _role(request)
        if role is None:
            return bad_request("role must be 'subscriber' or 'publisher'")
        try:
            page_index = int(request.query.get("pageIndex", "0"))
            page_size = int(request.query.get("pageSize", "20"))
        except ValueError:
            return bad_request("pageIndex and pageSize must be integers")
        if page_index < 0 or not 1 <= page_size <= 1000:
            return bad_request("pageSize must be between 1 and 1000 and pageIndex at least 0")
        query = {k.lower(): v for k, v in request.query.items()}
        try:
            predicate, named = filters.compile_filter(query.get("$filter"), role)
            allowed = self.config.subscriptions if role == "subscriber" else self.config.publishes
            refused = sorted(named - set(allowed))
            if refused:
                return forbidden(
                    f"The application is not authorized for business type {refused[0]}"
                )
            now = self.sandbox.now()
            rows = filters.sort_rows(
                [
                    r
                    for r in self.state.files(role)
                    if predicate(r) and not self.sandbox.metadata_expired(r, now)
                ],
                query.get("$orderby"),
                role,
            )
        except filters.FilterError as exc:
            return bad_request(str(exc))
        page = rows[page_index * page_size : (page_index + 1) * page_size]
        return Response.json(
            {
                "data": [self.item(row, role) for row in page],
                "pageIndex": page_index,
                "pageSize": page_size,
                "count": len(rows),
            }
        )

    def item(self, row: dict[str, Any], role: str) -> dict[str, Any]:
        item: dict[str, Any] = (
            {"downloaded": bool(row["downloaded"])} if role == "subscriber" else {}
        )
        item.update(
            fileId=row["id"],
            fileName=row["name"],
            fileSize=row["size"],
            tenantId=row["tenant_id"],
            businessType=business_type(row["business_type"]),
            publisherId=row["publisher_id"],
            # Publisher lists show the date without its Z, as the vendor's do.
            uploadDate=row["upload_date"] if role == "subscriber" else row["upload_date"][:-1],
            deleted=bool(row["deleted"]),
            deletedDate=row["deleted_date"],
        )
        return item

    # -- downloads ------------------------------------------------------------------------------
    def download(self, request: Request) -> Response:
        role, now = _role(request), self.sandbox.now()
        row = self.state.file(request.path_params["file_id"], role or "subscriber")
        if role is None or row is None or row["deleted"] or self.sandbox.metadata_expired(row, now):
            return camel_error(404, "File not found.")
        faults = self.sandbox.faults()
        if self.sandbox.content_expired(row, now, faults):
            return camel_error(404, CONTENT_EXPIRED)
        corruption = faults.corrupt_files.get(row["name"])
        size = self.sandbox.served_size(row, corruption)
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"attachment; filename={row['name']}",
        }
        if request.method == "HEAD":
            return Response(200, headers, StreamBody(()), content_length=size)
        start, end, status = 0, size - 1, 200
        wanted = _parse_range(request.headers.get("range", ""), size)
        if wanted == "unsatisfiable":
            response = camel_error(416, "Range not satisfiable.")
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        if wanted is not None:
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        file_id = row["id"]
        complete = end >= size - 1 and role == "subscriber"
        body = StreamBody(
            self.sandbox.iter_content(row, corruption, start, end),
            (lambda: self.state.mark_downloaded(file_id)) if complete else None,
        )
        response = Response(status, headers, body, content_length=end - start + 1)
        drop = self.state.take_drop()
        if drop is not None:
            response.drop_after = (end - start + 1) // 2 if drop < 0 else drop
        return response

    def delete(self, request: Request) -> Response:
        if _role(request) != "subscriber":
            return bad_request("Only subscribers can delete files")
        file_id, now = request.path_params["file_id"], self.sandbox.now()
        row = self.state.file(file_id, "subscriber")
        gone = row is None or self.sandbox.metadata_expired(row, now)
        if gone or not self.state.delete_file(file_id, format_date(utc(now))):
            return camel_error(404, "File not found.")
        return Response(204)

    def business_type(self, request: Request) -> Response:
        try:
            type_id = int(request.path_params["type_id"])
        except ValueError:
            return bad_request("BusinessTypeId must be an integer")
        if type_id not in BUSINESS_TYPE_NAMES:
            return camel_error(404, "Business type not found.")
        body: dict[str, Any] = {"id": type_id, "name": BUSINESS_TYPE_NAMES[type_id]}
        if request.query.get("extended", "").lower() == "true":
            body["subscriber"] = type_id in self.config.subscriptions
            body["publisher"] = type_id in self.config.publishes
        return Response.json(body)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) of `bytes=a-b`, `bytes=a-` or `bytes=-n`; "unsatisfiable"; None to ignore."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec or "-" not in spec:
        return None
    first, _, last = (part.strip() for part in spec.partition("-"))
    try:
        if not first:
            length = int(last)
            return (max(0, size - length), size - 1) if length > 0 and size else "unsatisfiable"
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, min(end, size - 1)
