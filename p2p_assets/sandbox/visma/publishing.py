"""The File API's publisher uploads: multipart (one request, up to 100 MB) and resumable
(a multipart first request opening a session, chunks PUT by number, closed by `close=true` or an
empty POST; the upload token lives an hour on the sandbox clock). Bodies are parsed in
`uploads.py`."""

import shutil
import uuid
from typing import TYPE_CHECKING, Any

from p2p_assets.sandbox.http import Request, Response
from p2p_assets.sandbox.visma import uploads
from p2p_assets.sandbox.visma.endpoints import bad_request, business_type, forbidden

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox


class UploadEndpoints:
    def __init__(self, sandbox: "VismaSandbox"):
        self.sandbox = sandbox
        self.state = sandbox.state
        self.config = sandbox.config

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
        self.state.open_upload(token, upload.name, upload.business_type, self.sandbox.now())
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
        # The upload token expires an hour after the session opened (on the sandbox clock).
        if self.sandbox.now() - upload["created"] > self.config.upload_token_lifetime_seconds:
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
