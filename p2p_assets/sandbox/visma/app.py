"""The Youforce File API over HTTP, behind a gateway that enforces the usage plan as Visma's
Apigee gateway does; the sandbox's admin endpoints live under `/_sandbox/` (`admin.py`).

Token endpoints: Visma Connect `POST /connect/token` (tenant bound in the token) and the legacy
`POST /authentication/token` (calls then name the tenant in `x-raet-tenant-id`, which a
single-tenant app may leave out). Every `/v1.0` request (also reachable as `/mft/v1.0`) is
counted, then meets the `fail_next` faults, then authentication, then the plan's limits on the
sandbox clock: the call window, calls per window and per day, window days a month
(`limits.py`), the spike arrest (one call per `spike_interval_seconds` per client) and the
concurrency limit. Each refusal is a 429 with the gateway's fault body and no `Retry-After`; only
admitted calls count toward the caps. A token call outside the window of a windowed plan is
refused the same way, and a successful one spends the month's authentication quota.
"""

from http import HTTPStatus
from typing import TYPE_CHECKING

from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.visma import auth
from p2p_assets.sandbox.visma.admin import AdminEndpoints
from p2p_assets.sandbox.visma.dates import utc
from p2p_assets.sandbox.visma.endpoints import FileEndpoints, StreamBody, camel_error, forbidden
from p2p_assets.sandbox.visma.limits import Limits
from p2p_assets.sandbox.visma.publishing import UploadEndpoints

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox

API = "/v1.0"


def _fault(errorcode: str, message: str) -> Response:
    """An API gateway policy violation, as the gateway words it (no Retry-After)."""
    return Response.json(
        {"fault": {"faultstring": message, "detail": {"errorcode": errorcode}}}, 429
    )


SPIKE = ("policies.ratelimit.SpikeArrestViolation", "Spike arrest violation. Allowed rate : {}pm")
CONCURRENCY = ("policies.concurrentratelimit.ConcurrentRatelimtViolation", "Concurrent limit")
QUOTA = ("policies.ratelimit.QuotaViolation", "Rate limit quota violation. Quota limit exceeded")


class VismaApp:
    """`app(request) -> response` for one `VismaSandbox`."""

    def __init__(self, sandbox: "VismaSandbox"):
        self.sandbox = sandbox
        self.state = sandbox.state
        self.limits = Limits(sandbox.config)
        files, uploads = FileEndpoints(sandbox), UploadEndpoints(sandbox)
        api = Router(not_found=lambda _: camel_error(404, "Resource not found."))
        api.add("GET", f"{API}/files", files.list_files)
        api.add("POST", f"{API}/files", uploads.post_files)
        api.add("PUT", f"{API}/files", uploads.put_chunk)
        api.add("GET", f"{API}/files/{{file_id}}", files.download)
        api.add("DELETE", f"{API}/files/{{file_id}}", files.delete)
        api.add("GET", f"{API}/businesstypes/{{type_id}}", files.business_type)
        self.api = api
        root = Router()
        root.add("POST", "/connect/token", self.connect_token)
        root.add("POST", "/authentication/token", self.legacy_token)
        root.add("GET", f"{API}/heartbeat", self.heartbeat)
        AdminEndpoints(sandbox).add_routes(root)
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
        now = self.sandbox.now()
        claims = self.authenticate(request, now)
        if isinstance(claims, Response):
            return claims
        client = str(claims["client_id"])
        config = self.sandbox.config
        gate = self.limits.gate(now)
        refused = self.state.admit(
            client, now, config.spike_interval_seconds, config.usage.concurrency, gate
        )
        if refused is not None:
            return self._refusal(refused)
        try:
            response = self.api(request)
        except BaseException:
            self.state.release(client)
            raise
        # A streamed download holds its concurrency slot until the body is sent or the
        # connection closes (the server closes every body after sending it).
        if isinstance(response.body, StreamBody):
            response.body.on_close.append(lambda: self.state.release(client))
        else:
            self.state.release(client)
        return response

    def _refusal(self, refused: str) -> Response:
        if refused == "spike":
            errorcode, message = SPIKE
            return _fault(errorcode, message.format(self.limits.plan.spike_arrest_per_minute))
        if refused == "concurrency":
            return _fault(*CONCURRENCY)
        return _fault(QUOTA[0], f"{QUOTA[1]}: {self.limits.describe(refused)}")

    def authenticate(self, request: Request, now: float) -> dict | Response:
        unauthorized = Response.json(auth.unauthorized_body(now), 401)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return unauthorized
        claims = auth.verify_token(self.state.signing_key(), token.strip(), now)
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
    def _outside_window(self, now: float) -> Response | None:
        """The windowed plans' gateway refuses token calls outside the window too (a refused
        call is no successful authentication)."""
        if not self.limits.token_refused(now):
            return None
        self.state.refuse("outside_window", "auth_calls")
        return _fault(QUOTA[0], f"{QUOTA[1]}: {self.limits.describe('outside_window')}")

    def _issue(self, tenant: str | None, now: float) -> Response:
        config = self.sandbox.config
        if not self.state.take_auth_quota(f"{utc(now):%Y-%m}", config.usage.auth_calls_per_month):
            self.state.bump("throttled")
            return _fault(QUOTA[0], f"{QUOTA[1]}: {self.limits.describe('auth_quota')}")
        lifetime = self.sandbox.faults().token_lifetime_seconds or config.token_lifetime_seconds
        token = auth.issue_token(self.state.signing_key(), config.client_id, tenant, lifetime, now)
        body = {"access_token": token, "token_type": "BearerToken", "expires_in": str(lifetime)}
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def _credentials_ok(self, form: dict[str, str]) -> bool:
        config = self.sandbox.config
        return (form.get("client_id"), form.get("client_secret")) == (
            config.client_id,
            config.client_secret,
        )

    def connect_token(self, request: Request) -> Response:
        now = self.sandbox.now()
        refused = self._outside_window(now)
        if refused is not None:
            return refused
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
        return self._issue(self.sandbox.config.tenant_id, now)

    def legacy_token(self, request: Request) -> Response:
        """Visma's scripts send `Cache-Control: no-cache` here; no header is required."""
        now = self.sandbox.now()
        refused = self._outside_window(now)
        if refused is not None:
            return refused
        form = request.form()
        if form.get("grant_type") != "client_credentials" or not self._credentials_ok(form):
            self.state.bump("auth_calls")
            return Response.json(auth.unauthorized_body(now), 401)
        return self._issue(None, now)

    def heartbeat(self, request: Request) -> Response:
        return Response.json({"status": "Healthy"})
