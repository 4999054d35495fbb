"""The Youforce File API over HTTP, plus the sandbox's admin endpoints under `/_sandbox/`
(no authentication: loopback test tooling).

Token endpoints: Visma Connect `POST /connect/token` (tenant bound in the token) and the legacy
`POST /authentication/token` (calls then name the tenant in `x-raet-tenant-id`, which a
single-tenant app may leave out). Every `/v1.0`
request (also reachable as `/mft/v1.0`) is counted, then meets the `fail_next` faults, then
authentication, then the spike arrest (one call per `spike_interval_seconds` per client) and the
plan's concurrency limit, both answering 429 without `Retry-After`.
"""

import time
from http import HTTPStatus
from typing import TYPE_CHECKING

from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.visma import auth
from p2p_assets.sandbox.visma.config import VismaFaults
from p2p_assets.sandbox.visma.endpoints import FileEndpoints, StreamBody, camel_error, forbidden

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox

API = "/v1.0"


def _fault(errorcode: str, message: str) -> Response:
    """An API gateway policy violation, as the gateway words it (no Retry-After)."""
    return Response.json(
        {"fault": {"faultstring": message, "detail": {"errorcode": errorcode}}}, 429
    )


SPIKE = ("policies.ratelimit.SpikeArrestViolation", "Spike arrest violation. Allowed rate : 100pm")
CONCURRENCY = ("policies.concurrentratelimit.ConcurrentRatelimtViolation", "Concurrent limit")
QUOTA = ("policies.ratelimit.QuotaViolation", "Rate limit quota violation. Quota limit exceeded")


class VismaApp:
    """`app(request) -> response` for one `VismaSandbox`."""

    def __init__(self, sandbox: "VismaSandbox"):
        self.sandbox = sandbox
        self.state = sandbox.state
        files = FileEndpoints(sandbox)
        api = Router(not_found=lambda _: camel_error(404, "Resource not found."))
        api.add("GET", f"{API}/files", files.list_files)
        api.add("POST", f"{API}/files", files.post_files)
        api.add("PUT", f"{API}/files", files.put_chunk)
        api.add("GET", f"{API}/files/{{file_id}}", files.download)
        api.add("DELETE", f"{API}/files/{{file_id}}", files.delete)
        api.add("GET", f"{API}/businesstypes/{{type_id}}", files.business_type)
        self.api = api
        root = Router()
        root.add("POST", "/connect/token", self.connect_token)
        root.add("POST", "/authentication/token", self.legacy_token)
        root.add("GET", f"{API}/heartbeat", self.heartbeat)
        root.add("GET", "/_sandbox/state", self.admin_state)
        root.add("POST", "/_sandbox/faults", self.admin_set_faults)
        root.add("DELETE", "/_sandbox/faults", self.admin_clear_faults)
        root.add("POST", "/_sandbox/deliver", self.admin_deliver)
        self.root = root

    def __call__(self, request: Request) -> Response:
        if request.path.startswith("/mft/"):
            request.path = request.path[len("/mft") :]
        if request.path.startswith(f"{API}/") and request.path != f"{API}/heartbeat":
            return self.api_call(request)
        return self.root(request)

    # -- the gateway ----------------------------------------------------------------------------
    def api_call(self, request: Request) -> Response:
        self.state.bump("api_calls")
        rule = self.state.take_failure(request.path)
        if rule is not None:
            self.state.bump(f"failed_{rule.status}")
            phrase = (
                "Client Closed Request" if rule.status == 499 else HTTPStatus(rule.status).phrase
            )
            if rule.status == 429:
                self.state.bump("throttled")
            failure = camel_error(rule.status, phrase)
            if rule.retry_after is not None:
                failure.headers["Retry-After"] = f"{rule.retry_after:g}"
            return failure
        claims = self.authenticate(request)
        if isinstance(claims, Response):
            return claims
        client = str(claims["client_id"])
        config = self.sandbox.config
        refused = self.state.admit(
            client, config.spike_interval_seconds, config.usage.concurrency, time.time()
        )
        if refused is not None:
            return _fault(*(SPIKE if refused == "spike" else CONCURRENCY))
        try:
            response = self.api(request)
        except BaseException:
            self.state.release(client)
            raise
        if isinstance(response.body, StreamBody):
            response.body.on_close.append(lambda: self.state.release(client))
        else:
            self.state.release(client)
        return response

    def authenticate(self, request: Request) -> dict | Response:
        unauthorized = Response.json(auth.unauthorized_body(), 401)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return unauthorized
        claims = auth.verify_token(self.state.signing_key(), token.strip(), time.time())
        if claims is None:
            return unauthorized
        config = self.sandbox.config
        header_tenant = request.headers.get("x-raet-tenant-id")
        tenant = claims.get("tenant") or header_tenant
        if tenant is None:
            # A legacy token names no tenant; a single-tenant app needs no header either.
            if not config.single_tenant:
                return unauthorized
            tenant = config.tenant_id
        if tenant != config.tenant_id or (header_tenant is not None and header_tenant != tenant):
            return forbidden(f"The application is not authorized for tenant {header_tenant}")
        return claims

    # -- tokens ---------------------------------------------------------------------------------
    def _issue(self, tenant: str | None) -> Response:
        config = self.sandbox.config
        if not self.state.take_auth_quota(
            time.strftime("%Y-%m"), config.usage.auth_calls_per_month
        ):
            self.state.bump("throttled")
            return _fault(*QUOTA)
        lifetime = self.sandbox.faults().token_lifetime_seconds or config.token_lifetime_seconds
        token = auth.issue_token(
            self.state.signing_key(), config.client_id, tenant, lifetime, time.time()
        )
        body = {"access_token": token, "token_type": "BearerToken", "expires_in": str(lifetime)}
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def _credentials_ok(self, form: dict[str, str]) -> bool:
        config = self.sandbox.config
        return (form.get("client_id"), form.get("client_secret")) == (
            config.client_id,
            config.client_secret,
        )

    def connect_token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            self.state.bump("auth_calls")
            return Response.json({"error": "unsupported_grant_type"}, 400)
        if not self._credentials_ok(form):
            self.state.bump("auth_calls")
            return Response.json({"error": "invalid_client"}, 400)
        if form.get("tenant_id") != self.sandbox.config.tenant_id:
            self.state.bump("auth_calls")
            description = "The client is not authorized for the requested tenant"
            return Response.json({"error": "invalid_grant", "error_description": description}, 400)
        return self._issue(self.sandbox.config.tenant_id)

    def legacy_token(self, request: Request) -> Response:
        """Visma's scripts send `Cache-Control: no-cache` here; no header is required."""
        form = request.form()
        if form.get("grant_type") != "client_credentials" or not self._credentials_ok(form):
            self.state.bump("auth_calls")
            return Response.json(auth.unauthorized_body(), 401)
        return self._issue(None)

    def heartbeat(self, request: Request) -> Response:
        return Response.json({"status": "Healthy"})

    # -- admin ----------------------------------------------------------------------------------
    def admin_state(self, request: Request) -> Response:
        return Response.json(self.state.snapshot())

    def admin_set_faults(self, request: Request) -> Response:
        try:
            faults = VismaFaults.from_dict(request.json() or {})
        except (TypeError, ValueError) as exc:
            return Response.json({"detail": str(exc)}, 422)
        self.sandbox.set_faults(faults)
        return Response.json(faults.to_dict())

    def admin_clear_faults(self, request: Request) -> Response:
        self.sandbox.clear_faults()
        return Response.json(VismaFaults().to_dict())

    def admin_deliver(self, request: Request) -> Response:
        body = request.json() or {}
        try:
            rows = self.sandbox.deliver(int(body["businessType"]), int(body.get("count", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            return Response.json({"detail": f"cannot deliver: {exc}"}, 422)
        return Response.json([{"fileId": r["id"], "fileName": r["name"]} for r in rows])
