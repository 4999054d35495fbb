"""The File API's `/v1.0` endpoints: file lists, HEAD/GET (ranged) downloads, delete, multipart and
resumable uploads, business types. Authentication and throttling happen before (see `app.py`)."""

import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from p2p_assets.sandbox.http import Request, Response
from p2p_assets.sandbox.visma import filters, uploads
from p2p_assets.sandbox.visma.config import BUSINESS_TYPE_NAMES

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox


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
            rows = filters.sort_rows(
                [r for r in self.state.files(role) if predicate(r)], query.get("$orderby"), role
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
        role = _role(request)
        row = self.state.file(request.path_params["file_id"], role or "subscriber")
        if role is None or row is None or row["deleted"]:
            return camel_error(404, "File not found.")
        corruption = self.sandbox.faults().corrupt_files.get(row["name"])
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
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        if not self.state.delete_file(request.path_params["file_id"], when):
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

    # -- uploads --------------------------------------------------------------------------------
    def post_files(self, request: Request) -> Response:
        upload_type = request.query.get("uploadType", "").lower()
        if upload_type == "resumable" and request.query.get("uploadToken"):
            return self._finish(request.query["uploadToken"])
        if upload_type not in ("multipart", "resumable"):
            return bad_request("uploadType must be 'multipart' or 'resumable'")
        if len(request.body) > self.config.max_multipart_bytes:
            return bad_request("The request exceeds the maximum size of a multipart upload")
        try:
            upload = uploads.parse_multipart(request.headers.get("content-type", ""), request.body)
        except uploads.UploadError as exc:
            return bad_request(str(exc))
        if upload.business_type not in self.config.publishes:
            return forbidden(f"Not authorized to publish business type {upload.business_type}")
        if upload_type == "multipart":
            tmp = self.sandbox.uploads_dir / f"multipart-{uuid.uuid4().hex}"
            tmp.write_bytes(upload.content)
            row = self.sandbox.add_uploaded_file(upload.name, upload.business_type, tmp, 1)
            self.state.bump("uploads")
            return Response.json(self.created(row), 201)
        token = uuid.uuid4().hex
        self.state.open_upload(token, upload.name, upload.business_type, time.time())
        (self.sandbox.uploads_dir / token).mkdir()
        if upload.content:
            refused = self._store_chunk(token, 0, upload.content)
            if refused is not None:
                return refused
        return Response.json({"uploadToken": token}, 206)

    def put_chunk(self, request: Request) -> Response:
        token = request.query.get("uploadToken", "")
        if request.query.get("uploadType", "").lower() != "resumable" or self._open(token) is None:
            return bad_request("The upload token is not valid or has expired")
        try:
            position = int(request.query.get("position", ""))
        except ValueError:
            return bad_request("position must be the chunk number (1, 2, ...)")
        if position < 1:
            return bad_request("position must be the chunk number (1, 2, ...)")
        refused = self._store_chunk(token, position, request.body)
        if refused is not None:
            return refused
        if request.query.get("close", "").lower() == "true":
            return self._finish(token)
        return Response(206)

    def _open(self, token: str) -> dict[str, Any] | None:
        upload = self.state.upload(token) if token else None
        if upload is None:
            return None
        if time.time() - upload["created"] > self.config.upload_token_lifetime_seconds:
            return None
        return upload

    def _store_chunk(self, token: str, position: int, content: bytes) -> Response | None:
        if len(content) > self.config.max_chunk_bytes:
            return bad_request("A chunk may not exceed 9MB")
        (self.sandbox.uploads_dir / token / str(position)).write_bytes(content)
        self.state.add_chunk(token, position, len(content))
        return None

    def _finish(self, token: str) -> Response:
        upload = self._open(token)
        if upload is None:
            return bad_request("The upload token is not valid or has expired")
        positions = sorted(upload["chunks"])
        first = 0 if 0 in upload["chunks"] else 1
        if not positions or positions != list(range(first, positions[-1] + 1)):
            return bad_request(f"Missing chunks: received positions {positions}")
        directory = self.sandbox.uploads_dir / token
        assembled = self.sandbox.uploads_dir / f"{token}.assembled"
        with open(assembled, "wb") as out:
            for position in positions:
                with open(directory / str(position), "rb") as chunk:
                    shutil.copyfileobj(chunk, out)
        row = self.sandbox.add_uploaded_file(
            upload["name"], upload["business_type"], assembled, len(positions)
        )
        shutil.rmtree(directory, ignore_errors=True)
        self.state.close_upload(token)
        self.state.bump("uploads")
        return Response.json(self.created(row), 201)

    def created(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "name": row["name"],
            "size": row["size"],
            "creationDate": row["upload_date"],
            "tenantId": row["tenant_id"],
            "businessType": business_type(row["business_type"]),
            "numChunks": row["num_chunks"],
        }


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
