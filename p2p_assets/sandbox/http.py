"""A tiny threaded loopback HTTP server that every vendor sandbox reuses.

A sandbox is a plain callable `app(Request) -> Response` (`routing.py`: requests, responses and
the router, re-exported here). `serve(app)` runs it on 127.0.0.1 with an ephemeral port in a
background thread (for tests and benchmarks), `serve_forever(app, host, port)` runs it in the
foreground (for the CLI): it binds first and tells `ready` the real URL, so `--port 0` can be
announced, and SIGTERM stops it like Ctrl-C does, so a test can run it as a process and stop it.

HTTP/1.1 with keep-alive, one daemon thread per connection. Large bodies (files, iterators) are
streamed in chunks, and a response may ask to drop the connection after N body bytes so that
clients can be tested against a cut download. Request lines are logged at DEBUG; headers never are,
so Authorization values never reach a log.
"""

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from p2p_assets.sandbox.routing import (
    App,
    Body,
    Handler,
    Headers,
    Request,
    Response,
    Router,
)

__all__ = [
    "App",
    "Body",
    "Handler",
    "Headers",
    "Request",
    "Response",
    "Router",
    "ServedSandbox",
    "serve",
    "serve_forever",
    "serve_in_background",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# An idle keep-alive connection is closed after this long, so its thread does not live forever.
IDLE_TIMEOUT_SECONDS = 60
Ready = Callable[[str], None]


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


def _url(server: "_Server") -> str:
    bound_host, bound_port = server.server_address[:2]
    return f"http://{bound_host}:{bound_port}"


@contextlib.contextmanager
def serve(app: App, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` in a background thread; yields the base URL (`http://127.0.0.1:<port>`)."""
    server = _Server((host, port), app)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-http", daemon=True)
    thread.start()
    try:
        yield _url(server)
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
    return _url(server)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does (only the main thread can have handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_forever(
    app: App, host: str = "127.0.0.1", port: int = 8000, ready: Ready | None = None
) -> None:
    """Serve `app` in the foreground until SIGINT or SIGTERM (the CLI's `sandbox serve`).

    Binds before anything is announced: `ready` gets the real URL (port 0 = an ephemeral port),
    and whoever reads it can connect at once. Returns normally when stopped.
    """
    with contextlib.suppress(KeyboardInterrupt), _sigterm_interrupts():
        server = _Server((host, port), app)
        try:
            url = _url(server)
            log.info("sandbox listening on %s", url)
            if ready is not None:
                ready(url)
            server.serve_forever()
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

    def serve_forever(
        self, host: str = "127.0.0.1", port: int = 8000, ready: Ready | None = None
    ) -> None:
        """Serve in the foreground until SIGINT or SIGTERM; `ready(url)` once bound."""
        serve_forever(self.app(), host, port, ready)
