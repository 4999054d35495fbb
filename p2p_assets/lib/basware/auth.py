"""Authentication against the Basware API: OAuth2 client credentials, or HTTP Basic.

Basware issues tokens at `POST {host}/v1/tokens` (client id and secret as HTTP Basic, form body
`grant_type=client_credentials&scope=...`) and has no refresh tokens: a new token is simply
requested the same way. Tokens live 5 minutes to 24 hours (one hour by default), so a long initial
load outlives its token; the flow below renews it shortly before expiry and once more if the API
answers 401. With a `cache_path`, the token is shared by every process on the machine (sensor
ticks, run workers, `p2p-assets sync`), so a sensor polling every few minutes reuses one token
for its whole lifetime instead of fetching one per tick.
"""

import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from p2p_assets.lib.basware.errors import BaswareAuthError, BaswareConfigError, error_detail
from p2p_assets.lib.tokens import CachedToken as _Token
from p2p_assets.lib.tokens import TokenCache, cache_key

log = logging.getLogger(__name__)

DEFAULT_SCOPES: tuple[str, ...] = ("dataExtract.read", "dataExtract.write")
"""`read` lists extracts and downloads files; `write` is needed to acknowledge extracts."""

TOKEN_PATH = "/v1/tokens"
# Used when the token answer carries no usable `expires_in`: the shortest lifetime Basware allows.
_FALLBACK_LIFETIME = 300.0
_MAX_SKEW = 60.0


def token_url_for(base_url: str) -> str:
    """The token endpoint of a Basware host, e.g. `https://api.basware.com/v1/tokens`."""
    return base_url.rstrip("/") + TOKEN_PATH


class BaswareOAuth2(httpx.Auth):
    """Bearer tokens from the client credentials flow, cached in memory and renewed in time.

    The token is renewed `min(60 s, 10 % of its lifetime)` before it expires, and on a 401 from the
    API it is renewed once and the request sent once more (a token can be revoked or the clocks
    can disagree); a second 401 is returned to the caller. The token request is yielded from the
    flow, so it travels through the same client (timeouts, retries, transport) and this class
    does no I/O of its own. A lock makes sure concurrent requests on one client fetch one token,
    not one each.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        *,
        cache_path: Path | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id or not client_secret:
            raise BaswareConfigError("Basware OAuth2 needs both a client id and a client secret")
        if not scopes:
            raise BaswareConfigError(
                "Basware OAuth2 needs at least one scope (Basware requires it)"
            )
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._basic = httpx.BasicAuth(client_id, client_secret)
        self.scope = " ".join(scope.strip() for scope in scopes)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._cache = TokenCache(cache_path, clock=clock) if cache_path is not None else None
        self.cache_key = cache_key(token_url, client_id, self.scope)

    def __repr__(self) -> str:
        return f"BaswareOAuth2(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the bearer token, send, and on a 401 renew the token and send once more."""
        token = yield from self._valid_token(stale=None)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        log.info(
            "Basware answered 401 to %s %s; renewing the token once",
            request.method,
            request.url.path,
        )
        token = yield from self._valid_token(stale=token)
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # httpx calls sync_auth_flow; this keeps the generic entry point working the same way.
        return self.sync_auth_flow(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:  # pragma: no cover
        # The flow guards the token with a threading lock, which must not block an event loop.
        raise NotImplementedError("BaswareOAuth2 supports the synchronous httpx.Client only")
        yield request  # makes this an async generator, as httpx expects

    def _valid_token(
        self, stale: _Token | None
    ) -> Generator[httpx.Request, httpx.Response, _Token]:
        """The cached token, or a new one when it is missing, due for renewal or `stale`.

        The lock is held while the token request is out, so other threads wait for that token
        instead of fetching their own; a thread that waited finds the fresh token and uses it.
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
                    self._token = cached
                    return cached
            requested_at = self._clock()
            response = yield self._token_request()
            # httpx reads a yielded response only after the flow has moved on; the token is needed
            # now. The answer is a few hundred bytes.
            response.read()
            token = self._parse_token_response(response, requested_at)
            if self._cache is not None:
                self._cache.put(
                    self.cache_key, token, token_url=self.token_url, client_id=self.client_id
                )
            self._token = token
            return token

    def _usable(self, token: _Token | None, stale: _Token | None) -> bool:
        if token is None or (stale is not None and token.value == stale.value):
            return False
        return self._clock() < token.refresh_at

    def _token_request(self) -> httpx.Request:
        request = httpx.Request(
            "POST",
            self.token_url,
            data={"grant_type": "client_credentials", "scope": self.scope},
            headers={"Accept": "application/json"},
        )
        # Apply Basic auth to the token request directly; it is not a request of the API client.
        return next(self._basic.auth_flow(request))

    def _parse_token_response(self, response: httpx.Response, requested_at: float) -> _Token:
        endpoint = httpx.URL(self.token_url).path
        if response.status_code != 200:
            raise BaswareAuthError(
                response.status_code,
                "POST",
                endpoint,
                self._scrub(error_detail(response.content)),
                attempts=response.extensions.get("retry_attempts"),
                hint="Check the client id and secret and the requested scopes",
            )
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise BaswareAuthError(
                response.status_code, "POST", endpoint, "the answer carries no access_token"
            )
        lifetime = _lifetime(data.get("expires_in"))
        skew = min(_MAX_SKEW, 0.1 * lifetime)
        log.info(
            "Obtained a Basware access token (scope %r, valid %d s)",
            data.get("scope", self.scope),
            lifetime,
        )
        expires_at = requested_at + lifetime
        return _Token(value=value, expires_at=expires_at, refresh_at=expires_at - skew)

    def _scrub(self, text: str | None) -> str | None:
        """Vendor text with the client secret masked, should a server ever echo it."""
        return text.replace(self._secret, "***") if text else text


def _lifetime(expires_in: Any) -> float:
    """Seconds a token lives; `expires_in` may arrive as a number or a numeric string."""
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        log.debug("Token answer has no usable expires_in; assuming %d s", _FALLBACK_LIFETIME)
        return _FALLBACK_LIFETIME
    return lifetime if lifetime > 0 else _FALLBACK_LIFETIME


def basware_auth(
    base_url: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    username: str | None = None,
    password: str | None = None,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    token_url: str | None = None,
    cache_path: Path | str | None = None,
) -> httpx.Auth:
    """The authentication Basware issued us: OAuth2 if a client id and secret are given, else
    HTTP Basic with a username and password. Both given: OAuth2 wins (Basware recommends it)."""
    if client_id or client_secret:
        if not (client_id and client_secret):
            raise BaswareConfigError(
                "Basware OAuth2 needs both a client id and a client secret; only one was given"
            )
        return BaswareOAuth2(
            token_url or token_url_for(base_url),
            client_id,
            client_secret,
            scopes,
            cache_path=cache_path,
        )
    if username or password:
        if not (username and password):
            raise BaswareConfigError(
                "Basware Basic authentication needs both a username and a password; "
                "only one was given"
            )
        return httpx.BasicAuth(username, password)
    raise BaswareConfigError(
        "No Basware credentials: give a client id and secret (OAuth2) or a username and password "
        "(Basic authentication)"
    )
