"""Authentication against the Visma Youforce File API: OAuth2 client credentials, two generations.

- Visma Connect (current): `POST https://connect.visma.com/connect/token`, form
  `grant_type=client_credentials, client_id, client_secret, tenant_id`; the tenant is bound in the
  token.
- Legacy Raet: `POST https://api.raet.com/authentication/token`, form without the tenant, header
  `Cache-Control: no-cache`; API requests then carry `x-raet-tenant-id` (the client sets it).

Successful authentication calls are a *monthly* quota (7, 40 or 400 by plan; counted and enforced
by the `UsageLedger`, usage.py, when one is given), so the token is cached in a file shared by
every process on the machine, keyed by token URL, client id and tenant, and reused until shortly
before it expires. While one process fetches a token it holds a file lock, so processes starting
together make one token call and the others read its result.

Habit 4 says the auth flow does no I/O besides the requests it yields. The token-cache file is
the one deliberate exception: the quota cannot be protected any other way, and the file lock must
be held across the yielded token request for the "one token call" guarantee to hold.
"""

import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.tokens import CachedToken as _Token
from p2p_assets.lib.tokens import TokenCache, cache_key
from p2p_assets.lib.visma.errors import (
    VismaAuthError,
    VismaConfigError,
    error_detail,
    is_authentication_failure,
)

if TYPE_CHECKING:
    from p2p_assets.lib.visma.usage import UsageLedger

log = logging.getLogger(__name__)

CONNECT_TOKEN_URL = "https://connect.visma.com/connect/token"
LEGACY_TOKEN_URL = "https://api.raet.com/authentication/token"

# The documented lifetime is two hours; used when `expires_in` is missing or unreadable.
_FALLBACK_LIFETIME = 7200.0
_MAX_SKEW = 300.0


class VismaTokenAuth(httpx.Auth):
    """Bearer tokens for the File API, cached in memory and (with `cache_path`) in a shared file.

    `cache_path` is e.g. `{P2P_DATA_DIR}/visma/token.json`; without it the token lives only as long
    as this object (tests, one-off scripts). The token is renewed `min(5 min, 10 %)` of its
    lifetime before it expires. On a 401, or a 403 with the documented authentication body, the
    token is renewed once and the request sent once more; a second refusal goes to the caller.
    The token request is yielded from the flow, so it travels through the client's transports.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        tenant_id: str | None = None,
        *,
        legacy: bool = False,
        token_url: str | None = None,
        cache_path: Path | str | None = None,
        cache_scope: str | None = None,
        usage: "UsageLedger | None" = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise VismaConfigError("Visma authentication needs both a client id and a secret")
        if not legacy and not tenant_id:
            raise VismaConfigError("Visma Connect authentication needs a tenant id")
        self.client_id = client_id
        self._secret = client_secret
        self.tenant_id = tenant_id
        self.legacy = legacy
        self.token_url = token_url or (LEGACY_TOKEN_URL if legacy else CONNECT_TOKEN_URL)
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._clock = clock or (lambda: clocks.current().time())
        self._cache = TokenCache(self.cache_path, clock=self._clock) if self.cache_path else None
        self.usage = usage
        self._lock = threading.Lock()
        self._token: _Token | None = None
        # Tokens are shared by every app that asks the same issuer for the same client and tenant;
        # `cache_scope` names the issuer when its URL changes between processes (a sandbox
        # served on a fresh loopback port by each process).
        self.cache_key = cache_key(cache_scope or self.token_url, client_id, tenant_id)

    def __repr__(self) -> str:
        return (
            f"VismaTokenAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"tenant_id={self.tenant_id!r})"
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the bearer token, send, and on an authentication failure renew once and resend."""
        token = yield from self._valid_token(stale=None)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 403:
            response.read()  # small; needed to tell an auth 403 from an authorisation 403
        if not is_authentication_failure(response):
            return
        log.info(
            "Visma answered %d to %s %s; renewing the token once",
            response.status_code,
            request.method,
            request.url.path,
        )
        token = yield from self._valid_token(stale=token)
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        return self.sync_auth_flow(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:  # pragma: no cover
        raise NotImplementedError("VismaTokenAuth supports the synchronous httpx.Client only")
        yield request

    # --- token ----------------------------------------------------------------------------

    def _usable(self, token: _Token | None, stale: _Token | None) -> bool:
        if token is None or (stale is not None and token.value == stale.value):
            return False
        return self._clock() < token.refresh_at

    def _valid_token(
        self, stale: _Token | None
    ) -> Generator[httpx.Request, httpx.Response, _Token]:
        """The cached token, else the shared file's, else a new one from the token endpoint.

        Both locks are held while the token request is out, so threads and processes that need a
        token at the same time wait for this one instead of spending quota on their own.
        """
        with ExitStack() as stack:
            stack.enter_context(self._lock)
            if self._usable(self._token, stale):
                assert self._token is not None
                return self._token
            if self._cache is not None:
                stack.enter_context(self._cache.locked())
                cached = self._cache.get(self.cache_key)
                if self._usable(cached, stale):
                    assert cached is not None
                    log.debug("Reusing the cached Visma token from %s", self.cache_path)
                    self._token = cached
                    return cached
            if self.usage is not None:
                self.usage.check_token()  # the plan's monthly quota and windows
            requested_at = self._clock()
            response = yield self._token_request()
            response.read()
            token = self._parse_token_response(response, requested_at)
            if self._cache is not None and self.cache_path is not None:
                self._cache.put(
                    self.cache_key,
                    token,
                    token_url=self.token_url,
                    client_id=self.client_id,
                    tenant_id=self.tenant_id,
                )
            if self.usage is not None:
                used = self.usage.spend_token()
                quota = self.usage.plan.auth_calls_per_month
                if used >= 0.8 * quota:
                    log.warning("Visma: %d of the plan's %d authentication calls of this month "
                                "are used", used, quota)  # fmt: skip
            self._token = token
            return token

    def _token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        # Both generations as Visma's own scripts call them; a cached token answer would be spent.
        headers = {"Accept": "application/json", "Cache-Control": "no-cache"}
        if not self.legacy:
            form["tenant_id"] = self.tenant_id or ""
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _parse_token_response(self, response: httpx.Response, requested_at: float) -> _Token:
        endpoint = httpx.URL(self.token_url).path
        if response.status_code != 200:
            raise VismaAuthError(
                response.status_code,
                "POST",
                endpoint,
                error_detail(response.content, secret=self._secret),
                attempts=response.extensions.get("retry_attempts"),
                hint="The plan's quota or call window refused the token: is VISMA_PLAN the "
                "subscription's plan and VISMA_WINDOW its window?"
                if response.status_code == 429
                else "Check the Visma client id, secret and tenant id",
            )
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise VismaAuthError(200, "POST", endpoint, "the answer carries no access_token")
        lifetime = _lifetime(data.get("expires_in"))
        log.info(
            "Obtained a Visma access token (valid %d s); authentication calls are a quota", lifetime
        )
        return _Token(
            value=value,
            expires_at=requested_at + lifetime,
            refresh_at=requested_at + lifetime - min(_MAX_SKEW, 0.1 * lifetime),
        )


def _lifetime(expires_in: Any) -> float:
    """Seconds a token lives; `expires_in` arrives as a number or a numeric string ("7200")."""
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        return _FALLBACK_LIFETIME
    return lifetime if lifetime > 0 else _FALLBACK_LIFETIME
