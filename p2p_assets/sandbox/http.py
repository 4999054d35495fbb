"""A tiny threaded loopback HTTP server that every vendor sandbox reuses.

A sandbox is a plain callable `app(Request) -> Response`; `Router` maps method + path patterns to
handlers. `serve(app)` runs it on 127.0.0.1 with an ephemeral port in a background thread (for tests
and benchmarks), `serve_forever(app, host, port)` runs it in the foreground (for the CLI).

HTTP/1.1 with keep-alive, one daemon thread per connection. Large bodies (files, iterators) are
streamed in chunks, and a response may ask to drop the connection after N body bytes so that
clients can be tested against a cut download. Request lines are logged at DEBUG; headers never are,
so Authorization values never reach a log.
"""

import contextlib
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# An idle keep-alive connection is closed after this long, so its thread does not live forever.
IDLE_TIMEOUT_SECONDS = 60


class Headers(Mapping[str, str]):
    """Request headers looked up case-insensitively (the last value wins for repeated names)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Names only: values may carry credentials.
        return f"Headers({sorted(self)})"


@dataclass
class Request:
    """One HTTP request as the app sees it; `query` keeps the last value of each parameter."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    @property
    def base_url(self) -> str:
        """`http://host:port` as the client addressed us (used to build absolute links)."""
        return f"http://{self.headers.get('host', 'localhost')}"


Body = bytes | Iterable[bytes] | BinaryIO


@dataclass
class Response:
    """What the app answers.

    `body` is bytes, an iterable of byte chunks or an open binary file (closed after sending).
    Streamed bodies send `Content-Length` when `content_length` is known (files: their size),
    otherwise chunked transfer encoding. `drop_after` cuts the connection after that many body
    bytes, as a network failure half way through a download would.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
    content_length: int | None = None
    drop_after: int | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, payload)

    @classmethod
    def file(cls, path: Path, content_type: str, headers: Mapping[str, str] | None = None):
        handle = open(path, "rb")  # noqa: SIM115 - closed by the server after streaming
        size = os.fstat(handle.fileno()).st_size
        return cls(200, {"Content-Type": content_type, **(headers or {})}, handle, size)


App = Callable[[Request], Response]
Handler = Callable[[Request], Response]


class Router:
    """Maps `METHOD /path/{param}` to handlers; path parameters land in `request.path_params`."""

    def __init__(self, not_found: Handler | None = None, method_not_allowed: Handler | None = None):
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._not_found = not_found or (lambda _: Response.json({"detail": "Not Found"}, 404))
        self._not_allowed = method_not_allowed or (
            lambda _: Response.json({"detail": "Method Not Allowed"}, 405)
        )

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def __call__(self, request: Request) -> Response:
        path_matched = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            path_matched = True
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                request.path_params = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(request)
        return self._not_allowed(request) if path_matched else self._not_found(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App):
        self.app = app
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive readers included) so they end."""
        with self._lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "p2p-sandbox/1"
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    # the body back until the client's delayed ACK, ~40 ms per small response.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=Headers(self.headers.items()),
            body=self._read_body(),
        )
        try:
            response = self.server.app(request)
        except Exception:
            log.exception("sandbox handler failed: %s %s", request.method, request.path)
            response = Response.json({"message": "Internal server error"}, 500)
        self._send(response, head=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response, head: bool) -> None:
        body = response.body
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(body, bytes | bytearray):
                chunks: Iterable[bytes] = [bytes(body)]
                length: int | None = len(body)
            else:
                chunks = _iter_chunks(body)
                length = response.content_length
            chunked = length is None
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            if response.drop_after is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self._write_body(chunks, chunked, response.drop_after)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def _write_body(self, chunks: Iterable[bytes], chunked: bool, drop_after: int | None) -> None:
        sent = 0
        for chunk in chunks:
            if drop_after is not None and sent + len(chunk) >= drop_after:
                chunk = chunk[: max(0, drop_after - sent)]
                self._write(chunk, chunked)
                self._drop()
                return
            self._write(chunk, chunked)
            sent += len(chunk)
        if drop_after is not None:
            self._drop()
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, chunk: bytes, chunked: bool) -> None:
        if not chunk:
            return
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            self.wfile.write(chunk)

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _iter_chunks(body: Iterable[bytes] | BinaryIO) -> Iterator[bytes]:
    if hasattr(body, "read"):
        reader: Any = body
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk
    else:
        yield from body  # type: ignore[misc]


@contextlib.contextmanager
def serve(app: App, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` in a background thread; yields the base URL (`http://127.0.0.1:<port>`)."""
    server = _Server((host, port), app)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)


def serve_in_background(app: App, host: str = "127.0.0.1", port: int = 0) -> str:
    """Serve `app` for the rest of the process's life on a daemon thread; returns the base URL.

    For a process that needs the sandbox until it exits (a Dagster run worker, the daemon): no
    teardown to interrupt at exit, the thread simply ends with the process.
    """
    server = _Server((host, port), app)
    threading.Thread(target=server.serve_forever, name="sandbox-http", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return f"http://{bound_host}:{bound_port}"


def serve_forever(app: App, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `app` in the foreground until interrupted (the CLI's `sandbox serve`)."""
    server = _Server((host, port), app)
    log.info("sandbox listening on http://%s:%s", *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close_connections()
        server.server_close()


class ServedSandbox:
    """Serving for a vendor sandbox: subclasses provide `app()`."""

    def app(self) -> App:
        raise NotImplementedError

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on 127.0.0.1 in a background thread; yields the base URL."""
        with serve(self.app()) as base_url:
            yield base_url

    def serve_in_background(self) -> str:
        """Serve on 127.0.0.1 until the process exits; returns the base URL."""
        return serve_in_background(self.app())

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        serve_forever(self.app(), host, port)
