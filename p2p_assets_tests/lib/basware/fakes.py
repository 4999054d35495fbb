"""A scripted stand-in for the Basware API, served through `httpx.MockTransport`."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

BASE_URL = "https://api.basware.test"
CLIENT_ID = "client-id-1"
CLIENT_SECRET = "s3cret-Value-never-logged"

Handler = Callable[[httpx.Request], httpx.Response]


class CutStream(httpx.SyncByteStream):
    """A body that breaks off after `chunks`, as a dropped connection does."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise httpx.ReadError("peer closed connection without sending complete message body")


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


class FakeBasware:
    """Issues tokens at /v1/tokens and answers API paths from `routes` (path -> handler).

    Records every request; `token_requests` counts token fetches. `expires_in` is what each token
    answer carries; `token_delay` slows the token endpoint down to let threads collide.
    """

    def __init__(self, expires_in: int | str = 3600) -> None:
        self.expires_in: int | str = expires_in
        self.routes: dict[str, Handler] = {}
        self.requests: list[httpx.Request] = []
        # (method, url, Authorization) as sent: the auth flow re-sends the same Request object
        # with a new header, so the header must be captured when the request arrives.
        self.seen: list[tuple[str, str, str | None]] = []
        self.token_requests = 0
        self.token_delay = 0.0
        self.token_error: httpx.Response | None = None
        self._lock = threading.Lock()

    def route(self, path: str, handler: Handler | httpx.Response | Any) -> None:
        if callable(handler):
            self.routes[path] = handler
        elif isinstance(handler, httpx.Response):
            self.routes[path] = lambda request: handler
        else:
            self.routes[path] = lambda request: json_response(200, handler)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def current_token(self) -> str:
        return f"token-{self.token_requests}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.seen.append(
                (request.method, str(request.url), request.headers.get("Authorization"))
            )
        if request.url.path == "/v1/tokens":
            return self._token(request)
        handler = self.routes.get(request.url.path)
        if handler is None:
            return json_response(404, {"detail": "Not Found"})
        return handler(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_delay:
            time.sleep(self.token_delay)
        if self.token_error is not None:
            return self.token_error
        with self._lock:
            self.token_requests += 1
            token = self.current_token()
        return json_response(
            200,
            {
                "access_token": token,
                "scope": "dataExtract.read dataExtract.write",
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            },
        )

    def api_authorizations(self) -> list[str | None]:
        """The Authorization header of every non-token request, in order."""
        return [auth for _, url, auth in self.seen if httpx.URL(url).path != "/v1/tokens"]

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/v1/tokens"]
