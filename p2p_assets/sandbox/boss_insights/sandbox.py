"""`BossInsightsSandbox`: the write side of the Boss Insights Data API, as the manual describes it.

    POST {write path}   (paths are configuration: Boss Insights does not publish them)

HTTP Basic plus `Account-Key` (401 otherwise); the API key must have the `api.write` scope (403).
A valid record is written to the CDM synchronously and answered at once, echoing `X-Tracking-ID`.
With `X-Sync-Data: push` the answer carries `X-Sync-ID`, and a background thread "pushes" to the
connected applications and then POSTs a webhook (`event`, `requestId`, `domain`, `message`, `data`)
to the configured URL with Basic authentication, retrying three times when the answer is not 200.
"""

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from p2p_assets.sandbox import http
from p2p_assets.sandbox.http import Request, Response, Router


@dataclass(frozen=True)
class BossInsightsConfig:
    username: str = "sandbox-api-user"
    password: str = "sandbox-api-password"
    account_key: str = "sandbox-account-key"
    scopes: tuple[str, ...] = ("api.read", "api.write")
    domain: str = "sandbox.myintranetapps.com"
    # object -> (write path, required fields)
    objects: dict[str, tuple[str, tuple[str, ...]]] = field(
        default_factory=lambda: {
            "vendor": ("/api/vendors", ("external_id", "name")),
            "payable_invoice": ("/api/payable-invoices", ("external_id", "vendor_external_id",
                                                           "number", "total", "currency")),
        }
    )  # fmt: skip
    webhook_url: str | None = None
    webhook_username: str = "p2p-webhooks"
    webhook_password: str = "sandbox-webhook-password"
    webhook_event: str = "api_push_update"
    webhook_retries: int = 3
    push_delay_seconds: float = 0.05


class BossInsightsSandbox(http.ServedSandbox):
    def __init__(self, config: BossInsightsConfig, state_dir: Path | str | None = None):
        self.config = config
        self._lock = threading.Lock()
        self.cdm: dict[str, dict[str, dict]] = {name: {} for name in config.objects}
        self.webhook_attempts: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self._threads: list[threading.Thread] = []

    def app(self) -> http.App:
        router = Router()
        for name, (path, _required) in self.config.objects.items():
            router.add("POST", path, lambda request, name=name: self.write(request, name))
        return router

    def _authorised(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            user == self.config.username
            and password == self.config.password
            and request.headers.get("account-key") == self.config.account_key
        )

    def write(self, request: Request, name: str) -> Response:
        if not self._authorised(request):
            return Response.json({"message": "Unauthorized"}, 401)
        if "api.write" not in self.config.scopes:
            return Response.json({"message": "The API key lacks the api.write scope"}, 403)
        try:
            record = json.loads(request.body or b"null")
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return Response.json({"message": "The body must be a JSON object", "fields": {}}, 400)
        _path, required = self.config.objects[name]
        missing = {f: "is required" for f in required if record.get(f) in (None, "")}
        tracking = request.headers.get("x-tracking-id")
        echo = {"X-Tracking-ID": tracking} if tracking else {}
        if missing:
            return Response.json({"message": "Validation failed", "fields": missing}, 400, echo)
        with self._lock:
            self.cdm[name][str(record["external_id"])] = record  # create or update by our id
        headers = dict(echo)
        if request.headers.get("x-sync-data", "").lower() == "push":
            sync_id = str(uuid.uuid4())
            headers["X-Sync-ID"] = sync_id
            thread = threading.Thread(
                target=self._push, args=(name, record, sync_id, tracking), daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return Response.json({"id": str(record["external_id"]), "object": name}, 200, headers)

    def _push(self, name: str, record: dict, sync_id: str, tracking: str | None) -> None:
        time.sleep(self.config.push_delay_seconds)
        with self._lock:
            self.pushes.append({"object": name, "sync_id": sync_id, "tracking_id": tracking})
        if not self.config.webhook_url:
            return
        payload = {
            "event": self.config.webhook_event,
            "requestId": str(uuid.uuid4()),
            "domain": self.config.domain,
            "message": f"API push update of {name} {record.get('external_id')} completed",
            "data": {"syncId": sync_id, "trackingId": tracking, "object": name,
                     "status": "success"},
        }  # fmt: skip
        auth = (self.config.webhook_username, self.config.webhook_password)
        for attempt in range(1 + self.config.webhook_retries):
            try:
                status = httpx.post(self.config.webhook_url, json=payload, auth=auth,
                                    timeout=10).status_code  # fmt: skip
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            with self._lock:
                self.webhook_attempts.append({"attempt": attempt + 1, "status": status,
                                              "requestId": payload["requestId"]})  # fmt: skip
            if status == 200:
                return
            time.sleep(0.05 * (attempt + 1))

    def wait_for_pushes(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
