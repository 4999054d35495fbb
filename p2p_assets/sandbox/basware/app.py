"""The Basware Data Access API over HTTP, as the manual and the gathered facts describe it, plus
the sandbox's admin endpoints under `/_sandbox/` (no authentication: loopback test tooling).

Every `/v1` request first meets the `fail_next` faults, then authentication (Bearer token from
`/v1/tokens`, or HTTP Basic username/password), then the scope check: GET needs
`dataExtract.read`, POST needs `dataExtract.write`.

getFile answers with a redirect: to the storage host's pre-signed URL when the sandbox serves one
(`storage.py`), else to this host's `/files/` path, which needs the API's credentials again.
File lists announce names through the `file_names` fault; getFile maps them back to the file.
"""

import time
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import quote

from p2p_assets.sandbox.basware import auth, downloads, storage
from p2p_assets.sandbox.basware.config import BaswareFaults
from p2p_assets.sandbox.credentials import basic_credentials
from p2p_assets.sandbox.http import Request, Response, Router

if TYPE_CHECKING:
    from p2p_assets.sandbox.basware.sandbox import BaswareSandbox

PROCESSING_STATUSES = ("WaitingForExport", "Exported")
UNAUTHORIZED = {"message": "Unauthorized"}
NOT_FOUND = {"detail": "Not Found"}
_FAILURE_BODIES = {500: {"message": "Internal server error"}}


def _error_422(location: list[str], message: str, kind: str) -> Response:
    return Response.json({"detail": [{"loc": location, "msg": message, "type": kind}]}, 422)


class BaswareApp:
    """`app(request) -> response` for one `BaswareSandbox`; getFile redirects to `storage_url`
    (the storage server's base URL) when given."""

    def __init__(self, sandbox: "BaswareSandbox", storage_url: str | None = None):
        self.sandbox = sandbox
        self.storage_url = storage_url
        router = Router(not_found=lambda _: Response.json(NOT_FOUND, 404))
        router.add("POST", "/v1/tokens", self.token)
        router.add("GET", "/v1/dataExtracts", self.list_extracts)
        spec = "/v1/dataExtracts/specification/tableDefinition"
        router.add("GET", spec, self.guard("read", self.table_definition))
        router.add("GET", spec + "/changeLog", self.guard("read", self.change_log))
        router.add("GET", "/v1/dataExtracts/{extract_id}", self.guard("read", self.file_list))
        router.add(
            "GET", "/v1/dataExtracts/{extract_id}/getFile", self.guard("read", self.get_file)
        )
        download = "/v1/dataExtracts/{extract_id}/files/{file_name}"
        router.add("GET", download, self.guard("read", self.download))
        for path in ("/v1/dataExtracts/{extract_id}", "/v1/dataExtract/{extract_id}"):
            router.add("POST", path + "/acknowledge", self.guard("write", self.acknowledge))
        router.add("GET", "/_sandbox/state", self.admin_state)
        router.add("POST", "/_sandbox/faults", self.admin_set_faults)
        router.add("DELETE", "/_sandbox/faults", self.admin_clear_faults)
        router.add("POST", "/_sandbox/publish", self.admin_publish)
        self.router = router

    def __call__(self, request: Request) -> Response:
        if request.path.startswith("/v1/"):
            rule = self.sandbox.state.take_failure(request.path)
            if rule is not None:
                phrase = HTTPStatus(rule.status).phrase
                body = _FAILURE_BODIES.get(rule.status, {"message": phrase})
                headers = {}
                if rule.retry_after is not None:
                    headers["Retry-After"] = f"{rule.retry_after:g}"
                return Response.json(body, rule.status, headers)
        return self.router(request)

    # -- authentication -------------------------------------------------------------------------
    def guard(self, operation: str, handler):
        def guarded(request: Request) -> Response:
            refused = self.authorize(request, f"dataExtract.{operation}")
            return refused if refused is not None else handler(request)

        return guarded

    def authorize(self, request: Request, scope: str) -> Response | None:
        """None when the request may proceed, else the 401/403 answer."""
        config = self.sandbox.config
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        unauthorized = Response.json(UNAUTHORIZED, 401, {"WWW-Authenticate": "Bearer"})
        if scheme.lower() == "basic":
            valid = basic_credentials(header) == (config.username, config.password)
            return None if valid else unauthorized
        if scheme.lower() != "bearer":
            return unauthorized
        claims = auth.verify_token(self.sandbox.state.signing_key(), value.strip(), time.time())
        if claims is None:
            return unauthorized
        if scope not in str(claims.get("scope", "")).split():
            body = {"message": "Forbidden", "detail": f"The access token lacks the scope {scope}"}
            return Response.json(body, 403)
        return None

    def token(self, request: Request) -> Response:
        config = self.sandbox.config
        credentials = basic_credentials(request.headers.get("authorization", ""))
        if credentials != (config.client_id, config.client_secret):
            return Response.json(
                {"error": "invalid_client"}, 401, {"WWW-Authenticate": 'Basic realm="tokens"'}
            )
        form = request.form()
        grant_type, scope = form.get("grant_type", "").strip(), form.get("scope", "").strip()
        if not grant_type or not scope:
            missing = "grant_type" if not grant_type else "scope"
            description = f"The request is missing the required parameter {missing}"
            return Response.json(
                {"error": "invalid_request", "error_description": description}, 400
            )
        if grant_type != "client_credentials":
            description = "Only the client_credentials grant is supported"
            body = {"error": "unsupported_grant_type", "error_description": description}
            return Response.json(body, 400)
        granted = auth.granted_scopes(scope)
        faults = self.sandbox.faults()
        lifetime = faults.token_lifetime_seconds or config.token_lifetime_seconds
        key = self.sandbox.state.signing_key()
        token = auth.issue_token(key, config.client_id, granted, lifetime, time.time())
        body = {
            "access_token": token,
            "scope": " ".join(granted),
            "expires_in": lifetime,
            "token_type": "Bearer",
        }
        return Response.json(body, headers={"Cache-Control": "no-store"})

    # -- data extract API -----------------------------------------------------------------------
    def list_extracts(self, request: Request) -> Response:
        refused = self.authorize(request, "dataExtract.read")
        if refused is not None:
            return refused
        status = request.query.get("processingStatus")
        if status is not None and status not in PROCESSING_STATUSES:
            return _error_422(
                ["query", "processingStatus"],
                "Input should be 'WaitingForExport' or 'Exported'",
                "enum",
            )
        # Hostile items from the `extra_extracts` fault come last, exactly as they were given.
        items = self.sandbox.extracts() + list(self.sandbox.faults().extra_extracts)
        if status is not None:
            items = [item for item in items if item.get("processingStatus") == status]
        return Response.json(items)

    def _published(self, request: Request) -> tuple[str, int] | None:
        extract_id = request.path_params["extract_id"]
        index = self.sandbox.extract_index(extract_id)
        return None if index is None else (extract_id, index)

    def file_list(self, request: Request) -> Response:
        found = self._published(request)
        if found is None:
            return Response.json(NOT_FOUND, 404)
        extract_id, index = found
        item = self.sandbox.extract_item(index)
        faults = self.sandbox.faults()
        entries = []
        for entry in self.sandbox.files(index, faults):
            announced = faults.file_names.get(entry["fileName"], entry["fileName"])
            listed = {
                "extractId": extract_id,
                "tableName": entry["tableName"],
                "fileName": announced,
                "startDate": item["startDate"],
                "endDate": item["endDate"],
                "downloadUrl": f"{request.base_url}/v1/dataExtracts/{extract_id}/getFile"
                f"?file={quote(announced, safe='')}",
            }
            if self.sandbox.config.record_counts:  # a sandbox extension, off by default
                listed["recordCount"] = entry["recordCount"]
            entries.append(listed)
        return Response.json(entries)

    def _limit_reached(self, extract_id: str, name: str) -> Response:
        limit = self.sandbox.config.download_limit
        detail = downloads.limit_message(self.sandbox, extract_id, name)
        body = {"message": "Download limit exceeded", "detail": detail, "limit": limit}
        return Response.json(body, 403)

    def get_file(self, request: Request) -> Response:
        found = self._published(request)
        if found is None:
            return Response.json(NOT_FOUND, 404)
        extract_id, index = found
        asked = request.query.get("file")
        if not asked:
            return _error_422(["query", "file"], "Field required", "missing")
        faults = self.sandbox.faults()
        name = self.sandbox.real_file_name(asked, faults)
        if self.sandbox.file_path(index, name, faults) is None:
            return Response.json(NOT_FOUND, 404)
        count = self.sandbox.state.download_count(extract_id, name)
        if count >= self.sandbox.config.download_limit:
            return self._limit_reached(extract_id, name)
        if self.storage_url is not None:
            key = self.sandbox.state.signing_key()
            location = storage.presigned_url(self.storage_url, key, extract_id, name)
        else:
            location = f"{request.base_url}/v1/dataExtracts/{extract_id}/files/{quote(name)}"
        return Response(302, {"Location": location}, b"")

    def download(self, request: Request) -> Response:
        """The redirect target of getFile on this host: counts the download, streams the file."""
        found = self._published(request)
        if found is None:
            return Response.json(NOT_FOUND, 404)
        extract_id, index = found
        name = request.path_params["file_name"]
        response = downloads.file_response(
            self.sandbox,
            request,
            extract_id,
            index,
            name,
            refused=lambda: self._limit_reached(extract_id, name),
        )
        return response if response is not None else Response.json(NOT_FOUND, 404)

    def acknowledge(self, request: Request) -> Response:
        found = self._published(request)
        if found is None:
            return Response.json(NOT_FOUND, 404)
        self.sandbox.state.acknowledge(found[0])
        return Response.json({"succeeded": True, "message": "Action done successfully"})

    def table_definition(self, request: Request) -> Response:
        return Response.json(self.sandbox.table_definition())

    def change_log(self, request: Request) -> Response:
        return Response.json(self.sandbox.change_log())

    # -- admin ----------------------------------------------------------------------------------
    def admin_state(self, request: Request) -> Response:
        snapshot = self.sandbox.state.snapshot()
        snapshot["published_deltas"] = self.sandbox.published_deltas()
        snapshot["extracts"] = self.sandbox.extracts()
        return Response.json(snapshot)

    def admin_set_faults(self, request: Request) -> Response:
        try:
            faults = BaswareFaults.from_dict(request.json() or {})
        except (TypeError, ValueError) as exc:
            return _error_422(["body"], str(exc), "value_error")
        self.sandbox.set_faults(faults)
        return Response.json(faults.to_dict())

    def admin_clear_faults(self, request: Request) -> Response:
        self.sandbox.clear_faults()
        return Response.json(BaswareFaults().to_dict())

    def admin_publish(self, request: Request) -> Response:
        item = self.sandbox.publish_delta()
        if item is None:
            return Response.json({"detail": "max_deltas reached: no further delta to publish"}, 409)
        return Response.json(item)
