"""`p2p-assets webhooks serve`: a small HTTP server that stores vendor webhook events durably.

- Basic authentication (`P2P_WEBHOOK_USERNAME`/`P2P_WEBHOOK_PASSWORD`, compared in constant time):
  401 and nothing stored otherwise.
- The body must be a JSON object with `event` and `requestId` (Boss Insights' documented fields):
  400 and nothing stored otherwise; bodies over 1 MiB are refused with 413.
- Each `requestId` is stored once: a retried delivery is answered 200 and ignored.
- 200 is answered only after the event is committed to SQLite (`synchronous=FULL`), so a crash
  can never acknowledge an event we do not have. The warehouse is never written here: a Dagster
  sensor folds the stored events into DuckDB.
"""

import base64
import hmac
import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
)"""


class EventStore:
    """Stored webhook events in one SQLite file, shared by the receiver and the sensor."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def add(self, request_id: str, event: str, body: dict[str, Any]) -> bool:
        """Store the event; False when this request id was stored before."""
        db = self._connect()
        try:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (request_id, event, received_at, body) "
                "VALUES (?, ?, ?, ?)",
                (request_id, event, datetime.now(UTC).isoformat(), json.dumps(body)),
            )
            return cursor.rowcount == 1
        finally:
            db.close()

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 when there is none)."""
        db = self._connect()
        try:
            return int(db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        finally:
            db.close()

    def since(self, seq: int, limit: int = 10_000) -> list[tuple[int, str, str, dict]]:
        """Up to `limit` events after `seq`, in arrival order."""
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT seq, request_id, received_at, body FROM events WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        finally:
            db.close()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


class _Handler(BaseHTTPRequestHandler):
    server: "WebhookServer"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("webhook %s %s", self.address_string(), format % args)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if not self.server.authorised(self.headers.get("Authorization", "")):
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized"},
                         {"WWW-Authenticate": 'Basic realm="p2p_assets webhooks"'})  # fmt: skip
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return
        if int(length) > MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            return
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("requestId"), str)
            or not body["requestId"]
            or not isinstance(body.get("event"), str)
        ):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "a JSON object with event and "
                                                  "requestId is required"})  # fmt: skip
            return
        try:
            stored = self.server.store.add(body["requestId"], body["event"], body)
        except sqlite3.Error:  # not stored: the vendor must deliver it again
            log.exception("webhook %s could not be stored", body["requestId"])
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "not stored, retry"})
            return
        self._answer(HTTPStatus.OK, {"stored": stored})

    def _answer(self, status: HTTPStatus, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: EventStore, username: str, password: str):
        if not username or not password:
            raise ValueError("the webhook receiver needs P2P_WEBHOOK_USERNAME and _PASSWORD")
        super().__init__(address, _Handler)
        self.store = store
        self._expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def authorised(self, header: str) -> bool:
        return hmac.compare_digest(header.encode(), self._expected.encode())

    def serve_in_thread(self) -> str:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
