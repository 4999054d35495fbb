"""`p2p-assets webhooks serve`: the server that stores vendor webhook events durably.

A Starlette application served by Uvicorn (async: an idle or slow connection costs a few
kilobytes, never a worker thread):

- `POST` (any path): Basic authentication (`P2P_WEBHOOK_USERNAME`/`P2P_WEBHOOK_PASSWORD`, compared
  in constant time), 401 and nothing stored otherwise. The body, at most `max_body_bytes` (413
  beyond), must arrive within `request_timeout` seconds (408), and must be an event the warehouse
  can take (`payload.parse`: 400 with the reason otherwise). 200 only once the event is committed
  to the store (`store.EventStore`); the same event delivered again is answered 200 and stored
  once. The request headers are kept with the event, without credentials or cookies.
- `GET /healthz`: 200 for a load balancer; no authentication, no store, no warehouse.
- The request line and headers must arrive within `request_timeout` seconds of connecting
  (`protocol.DeadlineH11Protocol`); a connection idle after an answer is closed after 5 s.
- A listen backlog of 2048, and at most `max_connections` open connections (503 beyond).
- SIGINT or SIGTERM stop accepting, close idle connections and wait up to `shutdown_timeout`
  seconds for the requests in flight to be stored and answered.

The warehouse is never opened here: a Dagster sensor folds the stored events into DuckDB.
"""

import base64
import contextlib
import hmac
import logging
import math
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from p2p_assets.lib.webhooks import payload
from p2p_assets.lib.webhooks.protocol import with_header_timeout
from p2p_assets.lib.webhooks.store import EventStore

__all__ = ["EventStore", "Limits", "WebhookServer", "create_app"]

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024  # the request line and headers together (h11's own default)
KEEP_ALIVE_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = MAX_BODY
    request_timeout: float = 10.0  # for the headers, then again for the body
    max_connections: int = 4096  # open at once; a request beyond is answered 503
    backlog: int = 2048  # the kernel caps it at net.core.somaxconn
    shutdown_timeout: int = 20  # for requests in flight at SIGTERM (< Kubernetes' 30 s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Limits":
        """The limits `P2P_WEBHOOK_MAX_BODY_BYTES`, `P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS` and
        `P2P_WEBHOOK_MAX_CONNECTIONS` set; ValueError naming the variable for a wrong value."""

        def read(name: str, kind: type, default: Any) -> Any:
            text = environ.get(name, "").strip()
            if not text:
                return default
            try:
                value = kind(text)
            except ValueError:
                value = None
            if value is None or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {text!r}")
            return value

        return cls(
            max_body_bytes=read("P2P_WEBHOOK_MAX_BODY_BYTES", int, cls.max_body_bytes),
            request_timeout=read("P2P_WEBHOOK_REQUEST_TIMEOUT_SECONDS", float, cls.request_timeout),
            max_connections=read("P2P_WEBHOOK_MAX_CONNECTIONS", int, cls.max_connections),
        )


class _TooLarge(Exception):
    pass


def _answer(status: int, body: dict, close: bool = False, **headers: str) -> JSONResponse:
    if close:  # the rest of the body is never read: the connection cannot carry another request
        headers["Connection"] = "close"
    return JSONResponse(body, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked bodies have no length to check up front
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _store(store: EventStore, raw: bytes, headers: dict[str, str]) -> tuple[bool, dict]:
    body = payload.parse(raw)
    return store.add(body["requestId"], body["event"], body, headers), body


def create_app(
    store: EventStore, username: str, password: str, limits: Limits | None = None
) -> Starlette:
    """The receiver as an ASGI application."""
    limits = limits or Limits()
    expected = ("Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()).encode()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def deliver(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return _answer(401, {"error": "unauthorized"}, close=True,
                           **{"WWW-Authenticate": 'Basic realm="p2p_assets webhooks"'})  # fmt: skip
        try:
            with anyio.fail_after(limits.request_timeout):
                raw = await _read_body(request, limits.max_body_bytes)
        except _TooLarge:
            return _answer(413, {"error": f"body over {limits.max_body_bytes} bytes"}, close=True)
        except TimeoutError:
            return _answer(408, {"error": "the body took too long"}, close=True)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody left to answer
        headers = payload.kept_headers(request.headers.items())
        try:
            # Parsing up to a MiB and the commit (which waits for an fsync) run in a thread, so
            # the event loop keeps serving every other connection meanwhile.
            stored, body = await anyio.to_thread.run_sync(_store, store, raw, headers)
        except payload.RefusedEvent as exc:
            log.warning("webhook refused: %s", exc)
            return _answer(400, {"error": str(exc)})
        except sqlite3.Error:  # not stored: the vendor must deliver it again
            log.exception("webhook event could not be stored")
            return _answer(503, {"error": "not stored, retry"})
        log.info("webhook %s %s: %s", body["event"], body["requestId"],
                 "stored" if stored else "already stored")  # fmt: skip
        return _answer(200, {"stored": stored})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", deliver, methods=["POST"]),
        ]
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # WebhookServer.serve_forever handles SIGINT and SIGTERM itself, from before the port is
        # announced (uvicorn's own handlers come later, and raise the signal again at the end).
        yield


class WebhookServer:
    """The receiver bound to `address` (port 0: any free port, see `server_address`)."""

    def __init__(
        self,
        address: tuple[str, int],
        store: EventStore,
        username: str,
        password: str,
        limits: Limits | None = None,
    ):
        if not username or not password:
            raise ValueError("the webhook receiver needs P2P_WEBHOOK_USERNAME and _PASSWORD")
        self.store = store
        self.limits = limits or Limits()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # Bound here, so the port is known (and connections queue in the backlog) at once.
        self.socket = socket.create_server(address, family=family, backlog=self.limits.backlog)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._server = _Server(
            uvicorn.Config(
                create_app(store, username, password, self.limits),
                http=with_header_timeout(self.limits.request_timeout),
                h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                backlog=self.limits.backlog,
                limit_concurrency=self.limits.max_connections,
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                timeout_graceful_shutdown=self.limits.shutdown_timeout,
                ws="none",  # no WebSocket upgrades: a webhook is one POST
                lifespan="off",
                log_config=None,  # the host process's logging (the CLI's, or Dagster's)
                access_log=False,
                server_header=False,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve in the foreground until SIGINT or SIGTERM, then finish the requests in flight
        and return. `ready` is called once the signals are handled (a second SIGINT stops at
        once)."""

        def stop(signum: int, frame: Any) -> None:
            if self._server.should_exit and signum == signal.SIGINT:
                self._server.force_exit = True
            self._server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if ready is not None:
                ready()
            self._server.run(sockets=[self.socket])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def serve_in_thread(self) -> str:
        """Serve from a daemon thread (the sandbox's in-process receiver); returns the URL."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]}, daemon=True,
            name="webhook-receiver",
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)
        return self.url

    def shutdown(self) -> None:
        """Stop the thread `serve_in_thread` started, after the requests in flight."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self.limits.shutdown_timeout + 10)

    def server_close(self) -> None:
        self.socket.close()
        self.store.close()
