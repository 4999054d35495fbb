"""A scripted stand-in for the Visma File API and its token endpoints, via `httpx.MockTransport`."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from p2p_assets.lib.visma import Pacer, VismaClient, VismaTokenAuth

BASE_URL = "https://fileapi.visma.test/v1.0"
TOKEN_URL = "https://connect.visma.test/connect/token"
CLIENT_ID = "visma-client-1"
CLIENT_SECRET = "Visma-s3cret-never-shown"
TENANT = "sandbox"

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


class FakeVisma:
    """Issues tokens `tok-1`, `tok-2`, ... at TOKEN_URL; API paths answer from `routes`.

    API requests without the newest token get the documented 401 body.
    """

    def __init__(
        self, expires_in: int | str = 7200, token_delay: float = 0.0, check_token: bool = True
    ) -> None:
        self.check_token = check_token
        self.expires_in = expires_in
        self.token_delay = token_delay
        self.token_requests = 0
        self.requests: list[httpx.Request] = []
        self.api_auth: list[str | None] = []  # Authorization as sent (requests are mutated later)
        self.routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self.handle)

    def current_token(self) -> str:
        return f"tok-{self.token_requests}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if str(request.url).startswith(TOKEN_URL):
            if self.token_delay:
                time.sleep(self.token_delay)
            with self._lock:
                self.token_requests += 1
                token = self.current_token()
            body = {"access_token": token, "token_type": "BearerToken",
                    "expires_in": self.expires_in}  # fmt: skip
            return json_response(200, body)
        self.api_auth.append(request.headers.get("Authorization"))
        authorization = request.headers.get("Authorization", "")
        expected = f"Bearer {self.current_token()}" if self.check_token else "Bearer tok-"
        if not authorization.startswith(expected) or authorization == "Bearer tok-0":
            return json_response(
                401,
                {"message": "Authentication Error", "correlationId": "c-1",
                 "errorCode": "unauthorized", "statusCode": 401},
            )  # fmt: skip
        path = request.url.path.removeprefix(httpx.URL(BASE_URL).path)
        handler = self.routes.get((request.method, path))
        if handler is None:
            return json_response(404, {"message": f"no route {request.method} {path}"})
        return handler(request)

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not str(r.url).startswith(TOKEN_URL)]


def make_auth(cache_path: Path | None = None, **kwargs: Any) -> VismaTokenAuth:
    return VismaTokenAuth(CLIENT_ID, CLIENT_SECRET, TENANT, token_url=TOKEN_URL,
                          cache_path=cache_path, **kwargs)  # fmt: skip


def make_client(fake: FakeVisma, auth: VismaTokenAuth | None = None, **kwargs: Any) -> VismaClient:
    sleeps: list[float] = kwargs.pop("sleeps", [])
    return VismaClient(
        BASE_URL,
        auth or make_auth(),
        tenant_id=TENANT,
        transport=fake.transport,
        pacer=kwargs.pop("pacer", Pacer(0.0, sleep=lambda _: None)),
        sleep=sleeps.append,
        **kwargs,
    )
