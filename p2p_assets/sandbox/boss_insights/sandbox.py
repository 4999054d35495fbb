"""`BossInsightsSandbox`: the write side of the Boss Insights Data API, as the manual describes it.

    POST {write path}   (paths are configuration: Boss Insights does not publish them)

HTTP Basic plus `Account-Key` (401 otherwise); the API key must have the `api.write` scope (403).
A valid record is written to the CDM synchronously (created, or updated by its `external_id`) and
answered at once, echoing `X-Tracking-ID`; an invalid one gets 400 with the fields at fault. With
`X-Sync-Data: push` the answer carries `X-Sync-ID`, and the push to the connected applications
runs asynchronously; when it ends, a webhook (`event`, `requestId`, `domain`, `message`, `data`)
is POSTed to the configured URL with Basic authentication, retried three times when the answer is
not 200, always with the same `requestId`.

State (the CDM, every accepted write, the pushes and every webhook attempt) lives in SQLite in the
state dir, shared by every process serving it. A push left undelivered by a process that stopped
(or died mid-delivery) is delivered by the next sandbox opened on the same dir, with the same
`requestId`, as Boss Insights' would be regardless of our processes.
"""

import base64
import hmac
import json
import os
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from p2p_assets.sandbox import http
from p2p_assets.sandbox.boss_insights.config import (
    BossInsightsConfig,
    BossInsightsFaults,
    CdmObject,
    FailRule,
)
from p2p_assets.sandbox.currency import is_currency
from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.state import SqliteState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cdm (
    object TEXT NOT NULL, external_id TEXT NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (object, external_id)
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT NOT NULL, external_id TEXT NOT NULL,
    tracking_id TEXT, sync_id TEXT, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    sync_id TEXT PRIMARY KEY, object TEXT NOT NULL, external_id TEXT NOT NULL, tracking_id TEXT,
    sources TEXT, request_id TEXT NOT NULL, outcome TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, due REAL NOT NULL, claimed_until REAL, claimed_by INTEGER
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL
)
"""
CLAIM_SECONDS = 60.0


class BossInsightsState(SqliteState[BossInsightsFaults, FailRule]):
    faults_type = BossInsightsFaults
    fail_rule_type = FailRule

    def __init__(self, state_dir: Path):
        super().__init__(state_dir)
        self._create(_SCHEMA)

    def take(self, key: str) -> Any:
        """Consume one of the fault `key` (a count, or the first rule of a list), if any is left."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            value = data.get(key)
            if isinstance(value, list):
                if not value:
                    return None
                rule = dict(value[0])
                value[0]["count"] = int(value[0].get("count", 1)) - 1
                data[key] = [r for r in value if r["count"] > 0]
                self._set_meta(db, "faults", json.dumps(data))
                return rule
            if not value or int(value) <= 0:
                return None
            data[key] = int(value) - 1
            self._set_meta(db, "faults", json.dumps(data))
            return True

    def exists(self, obj: str, external_id: str) -> bool:
        with self._transaction() as db:
            return db.execute(
                "SELECT 1 FROM cdm WHERE object = ? AND external_id = ?", (obj, external_id)
            ).fetchone() is not None  # fmt: skip

    def write(self, obj: str, record: dict, tracking_id: str | None, push: dict | None) -> None:
        """The synchronous CDM write, the write log and (with push) the queued push, at once."""
        now = datetime.now(UTC).isoformat()
        external_id = str(record["external_id"])
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cdm VALUES (?, ?, ?, ?) ON CONFLICT (object, external_id) "
                "DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                (obj, external_id, json.dumps(record), now),
            )
            db.execute(
                "INSERT INTO writes (object, external_id, tracking_id, sync_id, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (obj, external_id, tracking_id, push and push["sync_id"], now),
            )
            if push:
                db.execute(
                    "INSERT INTO pushes (sync_id, object, external_id, tracking_id, sources, "
                    "request_id, outcome, state, due) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (push["sync_id"], obj, external_id, tracking_id, push["sources"],
                     str(uuid.uuid4()), push["outcome"], push["due"]),
                )  # fmt: skip

    def claim_push(self, sync_id: str) -> dict | None:
        """Claim a pending push for delivery by this process, unless another live one has it."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT sync_id, object, external_id, tracking_id, sources, request_id, outcome, "
                "attempts, claimed_until, claimed_by FROM pushes "
                "WHERE state = 'pending' AND sync_id = ?",
                (sync_id,),
            ).fetchone()
            if row is None or not _claimable(row[8], row[9], now):
                return None
            db.execute(
                "UPDATE pushes SET claimed_until = ?, claimed_by = ? WHERE sync_id = ?",
                (now + CLAIM_SECONDS, os.getpid(), row[0]),
            )
            row = row[:8]
        keys = ("sync_id", "object", "external_id", "tracking_id", "sources", "request_id",
                "outcome", "attempts")  # fmt: skip
        return dict(zip(keys, row, strict=True))

    def attempted(self, sync_id: str, request_id: str, status: str, final: str | None) -> int:
        with self._transaction() as db:
            attempt = db.execute(
                "UPDATE pushes SET attempts = attempts + 1 WHERE sync_id = ? RETURNING attempts",
                (sync_id,),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO webhook_attempts (request_id, attempt, status) VALUES (?, ?, ?)",
                (request_id, attempt, status),
            )
            if final:
                db.execute(
                    "UPDATE pushes SET state = ?, claimed_until = NULL WHERE sync_id = ?",
                    (final, sync_id),
                )
        return attempt

    def unclaimed_pending(self) -> list[str]:
        """Pending pushes nobody is delivering: unclaimed, expired, or claimed by a dead process."""
        now = time.time()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT sync_id, claimed_until, claimed_by FROM pushes WHERE state = 'pending' "
                "ORDER BY due"
            ).fetchall()
        return [r[0] for r in rows if _claimable(r[1], r[2], now)]

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        with self._transaction() as db:
            return db.execute(sql, params).fetchall()


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
        for obj in self.config.objects:
            router.add("POST", obj.path, lambda request, obj=obj: self.write(request, obj))
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
                "outcome": "failed" if self.state.take("failed_pushes") else "success",
                "due": time.time() + self.config.push_delay_seconds,
            }
            headers["X-Sync-ID"] = push["sync_id"]
        self.state.write(obj.name, record, tracking, push)
        if push:
            self._deliver_later(push["sync_id"], self.config.push_delay_seconds)
        response = Response.json({"id": str(record["external_id"]), "object": obj.name},
                                 200, headers)  # fmt: skip
        if self.state.take("drop_after_write"):
            response.drop_after = 0  # written, but the answer never arrives
        return response

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

    # -- the asynchronous push and its webhook ----------------------------------------------------
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
            self.state.attempted(sync_id, push["request_id"], "no webhook configured", "done")
            return
        ok = push["outcome"] == "success"
        target = push["sources"] or ", ".join(self.config.connected_apps[:1])
        payload = {
            "event": self.config.webhook_event,
            "requestId": push["request_id"],
            "domain": self.config.domain,
            "message": f"API push update of {push['object']} {push['external_id']} to {target} "
            + ("completed" if ok else "failed: the application refused the record"),
            "data": {"syncId": sync_id, "trackingId": push["tracking_id"],
                     "object": push["object"], "id": push["external_id"],
                     "status": "success" if ok else "failed"},
        }  # fmt: skip
        auth = (self.config.webhook_username, self.config.webhook_password)
        for attempt in range(1 + self.config.webhook_retries):
            try:
                status = str(
                    httpx.post(
                        self.config.webhook_url, json=payload, auth=auth, timeout=10
                    ).status_code
                )
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            last = status == "200" or attempt == self.config.webhook_retries
            final = ("delivered" if status == "200" else "given_up") if last else None
            self.state.attempted(sync_id, push["request_id"], status, final)
            if last:
                return
            time.sleep(self.config.retry_delay_seconds * (attempt + 1))

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

    # -- the Python API tests use -----------------------------------------------------------------
    def records(self, obj: str) -> dict[str, dict]:
        rows = self.state.rows("SELECT external_id, body FROM cdm WHERE object = ?", obj)
        return {r[0]: json.loads(r[1]) for r in rows}

    def writes(self, obj: str | None = None) -> list[dict]:
        rows = self.state.rows(
            "SELECT object, external_id, tracking_id, sync_id FROM writes "
            "WHERE ? IS NULL OR object = ? ORDER BY seq", obj, obj
        )  # fmt: skip
        return [dict(zip(("object", "external_id", "tracking_id", "sync_id"), r, strict=True))
                for r in rows]  # fmt: skip

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
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def counters(self) -> dict[str, int]:
        return self.state.counters()

    def set_faults(self, faults: BossInsightsFaults | None = None, **fields: Any) -> None:
        self.state.set_faults(faults if faults is not None else BossInsightsFaults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(BossInsightsFaults())


def _claimable(claimed_until: float | None, claimed_by: int | None, now: float) -> bool:
    if claimed_until is None or claimed_until < now:
        return True
    try:
        os.kill(int(claimed_by or 0), 0)  # is the claiming process (on this machine) alive?
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
