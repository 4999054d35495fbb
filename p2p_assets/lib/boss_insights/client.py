"""Writing records to the Boss Insights Common Data Model (CDM).

HTTP Basic authentication plus the business client's `Account-Key`; the write paths per object
are not published, so they come from configuration. Each write carries our own `X-Tracking-ID`,
which Boss Insights echoes in its answer and in the webhooks of the push that follows; with
`X-Sync-Data: push` the answer's `X-Sync-ID` identifies that asynchronous push. A write that may
have reached Boss Insights is never sent twice here: the caller reconciles it by tracking id.
Whether a record is updated, and how, is the caller's configuration (`updates.py`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from p2p_assets.lib.http import RetryingTransport, RetryPolicy, make_timeout, network_transport

POLICY = RetryPolicy(max_attempts=4, retry_statuses=frozenset({429}))


class BossInsightsError(Exception):
    pass


class BossInsightsAuthError(BossInsightsError):
    """401 (credentials or account key) or 403 (the API key lacks the `api.write` scope)."""


class BossInsightsRejectedError(BossInsightsError):
    def __init__(self, message: str, field_errors: Mapping[str, str]):
        super().__init__(message)
        self.field_errors = dict(field_errors)


class BossInsightsUncertainError(BossInsightsError):
    """Sent, and no usable answer: the record may be in the CDM; the webhook will tell."""


@dataclass(frozen=True)
class Written:
    sync_id: str | None
    tracking_id: str | None
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


class BossInsightsClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        account_key: str,
        *,
        push: bool = True,
        sync_sources: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not (username and password and account_key):
            raise BossInsightsError("Boss Insights needs a username, a password and an account key")
        headers = {"Accept": "application/json", "Account-Key": account_key}
        if push:
            headers["X-Sync-Data"] = "push"
        if sync_sources:
            headers["X-Sync-Sources"] = sync_sources
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(username, password),
            headers=headers,
            timeout=make_timeout(),
            transport=RetryingTransport(transport or network_transport(), POLICY),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        self._http.close()

    def write(
        self, path: str, record: Mapping[str, Any], tracking_id: str, method: str = "POST"
    ) -> Written:
        where = f"Boss Insights {method} {path}"
        try:
            response = self._http.request(
                method, path, json=dict(record), headers={"X-Tracking-ID": tracking_id}
            )
        except httpx.ConnectError as exc:
            raise BossInsightsError(f"{where}: cannot connect ({exc})") from exc
        except httpx.TransportError as exc:
            raise BossInsightsUncertainError(
                f"{where}: sent, but no answer ({type(exc).__name__})"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (200, 201):
            return Written(
                response.headers.get("X-Sync-ID"), response.headers.get("X-Tracking-ID"), body,
                {k.lower(): v for k, v in response.headers.items()},
            )  # fmt: skip
        if response.status_code == 401:
            raise BossInsightsAuthError(f"{where}: HTTP 401, check the credentials and account key")
        if response.status_code == 403:
            raise BossInsightsAuthError(f"{where}: HTTP 403, the API key needs the api.write scope")
        if response.status_code in (400, 422):
            fields = body.get("fields") if isinstance(body, dict) else None
            message = body.get("message") if isinstance(body, dict) else None
            raise BossInsightsRejectedError(
                f"{where} refused the record (HTTP {response.status_code}): {message or body}",
                {str(k): str(v) for k, v in (fields or {}).items()},
            )
        if response.status_code == 404 and method != "POST":
            raise BossInsightsRejectedError(
                f"{where}: HTTP 404, Boss Insights has no such record to update", {}
            )
        if response.status_code == 405:
            raise BossInsightsError(
                f"{where}: HTTP 405, Boss Insights does not take {method} here (check "
                "BOSS_INSIGHTS_UPDATE and the write paths)"
            )
        if response.status_code >= 500:
            raise BossInsightsUncertainError(f"{where}: HTTP {response.status_code}")
        raise BossInsightsError(f"{where}: unexpected HTTP {response.status_code}")
