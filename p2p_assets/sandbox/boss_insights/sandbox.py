"""`BossInsightsSandbox`: the write side of the Boss Insights Data API, as the manual describes it.

    POST {write path}        (paths are configuration: Boss Insights does not publish them)
    PUT  {write path}/{id}   (by the id the CDM answered with; `put_by_id`, else 405)

HTTP Basic plus `Account-Key` (401 otherwise); the API key must have the `api.write` scope (403).
A valid record is written to the CDM synchronously and answered at once with its CDM id, echoing
`X-Tracking-ID`; a POST creates it, or (`post_mode` upsert) updates the record with its
`external_id`; an invalid one gets 400 with the fields at fault. With `X-Sync-Data: push` the
answer carries `X-Sync-ID`, and the push to the connected applications runs asynchronously; when
it ends, its webhooks (`webhooks.py`, in the configured layout) are POSTed to the configured URL
with Basic authentication, each retried three times when the answer is not 200, always with the
same `requestId`.

State (`state.py`: the CDM, every accepted write, the pushes and every webhook attempt) lives in
SQLite in the state dir, shared by every process serving it. A push left undelivered by a process
that stopped (or died mid-delivery) is delivered by the next sandbox opened on the same dir, with
the same `requestId`, as Boss Insights' would be regardless of our processes.

The admin endpoints under `/_sandbox/` (no authentication: loopback test tooling):

    GET    /_sandbox/state    counters, faults, writes, pushes
    POST   /_sandbox/faults   replace the faults (a `BossInsightsFaults`)
    DELETE /_sandbox/faults   clear them
"""

import base64
import hmac
import http.client as http_client
import json
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights import webhooks
from p2p_assets.sandbox.boss_insights.config import (
    BossInsightsConfig,
    BossInsightsFaults,
    CdmObject,
)
from p2p_assets.sandbox.boss_insights.state import BossInsightsState, outcomes
from p2p_assets.sandbox.currency import is_currency
from p2p_assets.sandbox.http import Request, Response, Router


class BossInsightsSandbox(http.ServedSandbox):
    def __init__(self, config: BossInsightsConfig, state_dir: Path | str):
        self.config = config
        self.state = BossInsightsState(Path(state_dir))
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        if config.webhook_url:  # an instance without a webhook (e.g. one inspecting) delivers none
            for sync_id in self.state.unclaimed_pending():  # left behind by a stopped process
                self._deliver_later(sync_id, delay=0.0)

    def app(self) -> http.App:
        router = Router()
        router.add("GET", "/_sandbox/state", self.admin_state)
        router.add("POST", "/_sandbox/faults", self.admin_set_faults)
        router.add("DELETE", "/_sandbox/faults", self.admin_clear_faults)
        for obj in self.config.objects:
            router.add("POST", obj.path, lambda request, obj=obj: self.write(request, obj))
            router.add(
                "PUT", f"{obj.path}/{{id}}", lambda request, obj=obj: self.update(request, obj)
            )
        return router

    def _authorised(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        given = f"{user}\n{password}\n{request.headers.get('account-key', '')}".encode()
        expected = f"{self.config.username}\n{self.config.password}\n{self.config.account_key}"
        return hmac.compare_digest(given, expected.encode())

    def write(self, request: Request, obj: CdmObject) -> Response:
        return self._write(request, obj, None)

    def update(self, request: Request, obj: CdmObject) -> Response:
        if not self.config.put_by_id:
            return Response.json({"message": "Method Not Allowed"}, 405)
        return self._write(request, obj, request.path_params["id"])

    def _write(self, request: Request, obj: CdmObject, record_id: str | None) -> Response:
        self.state.bump("requests")
        if not self._authorised(request):
            self.state.bump("unauthorized")
            return Response.json({"message": "Unauthorized"}, 401)
        if "api.write" not in self.config.scopes:
            return Response.json({"message": "The API key lacks the api.write scope"}, 403)
        tracking = request.headers.get("x-tracking-id")
        echo = {"X-Tracking-ID": tracking} if tracking else {}
        failure = self.state.take_failure(request.path)
        if failure is not None:
            return Response.json({"message": "Internal Server Error"}, failure.status, echo)
        if record_id is not None and not self.state.has_id(obj.name, record_id):
            return Response.json({"message": f"No {obj.name} with id {record_id}"}, 404, echo)
        try:
            record = json.loads(request.body or b"null")
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return Response.json({"message": "The body must be a JSON object", "fields": {}},
                                 400, echo)  # fmt: skip
        errors = self._validate(obj, record)
        rule = self.state.take("reject_next") if not errors else None
        if rule:
            errors = {rule["field"]: rule["message"]}
        if errors:
            self.state.bump("rejected")
            return Response.json({"message": "Validation failed", "fields": errors}, 400, echo)
        headers = dict(echo)
        push = None
        if request.headers.get("x-sync-data", "").lower() == "push":
            push = {
                "sync_id": str(uuid.uuid4()),
                "sources": request.headers.get("x-sync-sources") or None,
                "outcome": self._outcome(request.headers.get("x-sync-sources")),
                "due": time.time() + self.config.push_delay_seconds,
            }
            headers["X-Sync-ID"] = push["sync_id"]
        record_id = self.state.write(
            obj.name, record, tracking_id=tracking, push=push, method=request.method,
            record_id=record_id, upsert=self.config.post_mode == "upsert",
        )  # fmt: skip
        if push:
            self._deliver_later(push["sync_id"], self.config.push_delay_seconds)
        response = Response.json(
            {"id": record_id, "external_id": str(record["external_id"]), "object": obj.name},
            200, headers,
        )  # fmt: skip
        if self.state.take("drop_after_write"):
            response.drop_after = 0  # written, but the answer never arrives
        return response

    def _outcome(self, sources: str | None) -> dict[str, str]:
        """Where this push goes and how it ends there: every destination succeeds, unless a
        failed push is due, which fails in the failing destination (default: the last)."""
        destinations = [s.strip() for s in (sources or "").split(",") if s.strip()]
        destinations = destinations or list(self.config.destinations)
        failing = None
        if self.state.take("failed_pushes"):
            wanted = self.config.failing_destination
            failing = wanted if wanted in destinations else destinations[-1]
        return {d: "failed" if d == failing else "success" for d in destinations}

    def _validate(self, obj: CdmObject, record: dict) -> dict[str, str]:
        errors = {f: "is required" for f in obj.required if record.get(f) in (None, "")}
        for name, value in record.items():
            kind = obj.fields.get(name)
            if kind is None or value is None or name in errors:
                continue  # fields the object does not have are ignored, as extra JSON is
            problem = _check(kind, value)
            if problem:
                errors[name] = problem
        for name, target in obj.references.items():
            value = record.get(name)
            if (
                name not in errors
                and value not in (None, "")
                and not self.state.exists(target, str(value))
            ):
                errors[name] = f"no {target} with external_id {value!r}"
        return errors

    # -- the asynchronous push and its webhooks ---------------------------------------------------
    def _deliver_later(self, sync_id: str, delay: float) -> None:
        thread = threading.Thread(
            target=self._deliver, args=(sync_id, delay), name="boss-insights-push", daemon=True
        )
        with self._threads_lock:
            self._threads.append(thread)
        thread.start()

    def _deliver(self, sync_id: str, delay: float) -> None:
        time.sleep(delay)
        push = self.state.claim_push(sync_id)
        if push is None:  # delivered or being delivered by another process
            return
        if not self.config.webhook_url:
            self.state.attempted(sync_id, push["request_id"], "no webhook configured")
            self.state.finished(sync_id, "done")
            return
        results = outcomes(push["outcome"], self.config.destinations)
        delivered = [  # each event on its own: one given up does not hold back the others
            self._post(sync_id, body, headers)
            for body, headers in webhooks.events(self.config, push, results)
        ]
        delivered = all(delivered)
        self.state.finished(sync_id, "delivered" if delivered else "given_up")

    def _post(self, sync_id: str, body: dict, headers: dict[str, str]) -> bool:
        """One webhook, retried until answered 200 or `webhook_retries` more times."""
        assert self.config.webhook_url
        credentials = f"{self.config.webhook_username}:{self.config.webhook_password}"
        sent = {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            **headers,
        }
        payload = json.dumps(body).encode()
        for attempt in range(1 + self.config.webhook_retries):
            try:
                status = str(_deliver_once(self.config.webhook_url, payload, sent))
            except (OSError, http_client.HTTPException) as exc:
                status = type(exc).__name__
            self.state.attempted(sync_id, body["requestId"], status)
            if status == "200":
                return True
            if attempt < self.config.webhook_retries:
                time.sleep(self.config.retry_delay_seconds * (attempt + 1))
        return False

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until this process's pushes are delivered (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._threads_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            return not self._threads

    # -- admin endpoints ---------------------------------------------------------------------------
    def admin_state(self, request: Request) -> Response:
        return Response.json(
            {
                "counters": self.counters(),
                "faults": self.state.faults().to_dict(),
                "writes": self.writes(),
                "pushes": self.pushes(),
            }
        )

    def admin_set_faults(self, request: Request) -> Response:
        try:
            faults = BossInsightsFaults.from_dict(request.json() or {})
        except (TypeError, ValueError) as exc:
            return Response.json({"detail": str(exc)}, 422)
        self.set_faults(faults)
        return Response.json(faults.to_dict())

    def admin_clear_faults(self, request: Request) -> Response:
        self.clear_faults()
        return Response.json(BossInsightsFaults().to_dict())

    # -- the Python API tests use -----------------------------------------------------------------
    def records(self, obj: str) -> dict[str, dict]:
        """The CDM's records of `obj` by `external_id` (see `all_records` for duplicates)."""
        return {r["external_id"]: r["body"] for r in self.all_records(obj)}

    def all_records(self, obj: str) -> list[dict]:
        """Every record of `obj` in the CDM, oldest first, with its CDM id."""
        rows = self.state.rows(
            "SELECT id, external_id, body FROM records WHERE object = ? ORDER BY created_at, id",
            obj,
        )
        return [{"id": r[0], "external_id": r[1], "body": json.loads(r[2])} for r in rows]

    def writes(self, obj: str | None = None) -> list[dict]:
        rows = self.state.rows(
            "SELECT object, external_id, tracking_id, sync_id, method, record_id FROM writes "
            "WHERE ? IS NULL OR object = ? ORDER BY seq", obj, obj
        )  # fmt: skip
        keys = ("object", "external_id", "tracking_id", "sync_id", "method", "record_id")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def webhook_attempts(self) -> list[dict]:
        rows = self.state.rows(
            "SELECT request_id, attempt, status FROM webhook_attempts ORDER BY seq"
        )
        return [{"requestId": r[0], "attempt": r[1], "status": r[2]} for r in rows]

    def pushes(self) -> list[dict]:
        rows = self.state.rows(
            "SELECT sync_id, tracking_id, sources, outcome, state, attempts FROM pushes "
            "ORDER BY due"
        )
        keys = ("sync_id", "tracking_id", "sources", "outcome", "state", "attempts")
        pushes = [dict(zip(keys, r, strict=True)) for r in rows]
        for push in pushes:
            push["outcome"] = outcomes(push["outcome"], self.config.destinations)
        return pushes

    def counters(self) -> dict[str, int]:
        return self.state.counters()

    def set_faults(self, faults: BossInsightsFaults | None = None, **fields: Any) -> None:
        self.state.set_faults(faults if faults is not None else BossInsightsFaults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(BossInsightsFaults())


def _check(kind: str, value: Any) -> str | None:
    if kind == "text":
        return None if isinstance(value, str) else "must be a string"
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be an integer (amounts in minor units)"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "currency":
        return None if is_currency(value) else f"{value!r} is not an ISO 4217 currency code"
    if kind == "date":
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return "must be a date (YYYY-MM-DD)"
        return None
    raise ValueError(f"unknown field kind {kind!r}")


def _deliver_once(url: str, payload: bytes, headers: dict[str, str]) -> int:
    """POST one webhook with the standard library, a connection of its own; its status. (A
    pure-Python HTTP client costs ~1.5 ms of CPU a call, which bounded the sandbox's pushes.)"""
    parts = urlsplit(url)
    kind = http_client.HTTPSConnection if parts.scheme == "https" else http_client.HTTPConnection
    connection = kind(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
