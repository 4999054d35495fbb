"""A synchronous client for the Workspace 365 Business App API: create a record, get its id.

`Authorization: Workspace365 {token}`, one token per environment. Only what cannot have created a
record is retried (the connection was never established; 429): a POST that may have reached
Workspace 365 is never sent twice, because a record cannot be looked up afterwards. Such a
request raises `Workspace365UncertainError` for the caller to hold for a person.

A 403 with a `globalError` ("Business App isn't enabled") and a 404 (no such app, or not
installed, or not enabled) say the same: the app cannot take records now, whichever record is
sent. They raise `Workspace365AppUnavailableError` with the vendor's message, never a rejection
of the record. One client may be used from several threads at once (httpx's `Client` is).
"""

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from p2p_assets.lib.http import RetryingTransport, RetryPolicy, make_timeout, network_transport
from p2p_assets.lib.workspace365.errors import (
    Workspace365AppUnavailableError,
    Workspace365AuthError,
    Workspace365ConfigError,
    Workspace365Error,
    Workspace365NotFoundError,
    Workspace365RejectedError,
    Workspace365UncertainError,
)
from p2p_assets.lib.workspace365.fields import encode

log = logging.getLogger(__name__)
POLICY = RetryPolicy(max_attempts=4, retry_statuses=frozenset({429}))


class Workspace365Auth(httpx.Auth):
    def __init__(self, token: str) -> None:
        if not token:
            raise Workspace365ConfigError("Workspace 365 needs the environment's API token")
        self._token = token

    def __repr__(self) -> str:
        return "Workspace365Auth(token=***)"

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Workspace365 {self._token}"
        yield request


class Workspace365Client:
    """The Business App API of one Workspace 365 environment."""

    def __init__(
        self,
        base_url: str,
        environment: str,
        token: str,
        *,
        language: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        if not environment:
            raise Workspace365ConfigError("Workspace 365 needs an environment name")
        self.environment = environment
        headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        if language:
            headers["Accept-Language"] = language
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=Workspace365Auth(token),
            headers=headers,
            timeout=timeout or make_timeout(),
            transport=RetryingTransport(transport or network_transport(), POLICY),
            follow_redirects=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_record(self, app: str, record: Mapping[str, Any]) -> int:
        """Create one record in Business App `app`; returns its Workspace 365 id."""
        path = f"/{quote(self.environment, safe='')}/BusinessAppApi/{quote(app, safe='')}"
        where = f"Workspace 365 POST {path}"
        try:
            response = self._http.post(path, content=encode(record))
        except httpx.ConnectError as exc:  # never reached the server: nothing was created
            raise Workspace365Error(f"{where}: cannot connect ({exc})") from exc
        except httpx.TransportError as exc:
            raise Workspace365UncertainError(
                f"{where}: sent, but no answer ({type(exc).__name__}); the record may exist"
            ) from exc
        body = _json(response)
        if response.status_code == 200:
            record_id = body.get("id") if isinstance(body, dict) else None
            if not isinstance(record_id, int) or isinstance(record_id, bool):
                raise Workspace365UncertainError(f"{where}: 200 without a record id: {body!r}")
            return record_id
        global_error, field_errors = _errors(body)
        if response.status_code == 400:
            detail = global_error or "; ".join(f"{k}: {v}" for k, v in field_errors.items())
            raise Workspace365RejectedError(
                f"{where} refused the record (HTTP 400): {detail}", global_error, field_errors
            )
        if response.status_code == 403 and global_error:
            raise Workspace365AppUnavailableError(
                f"{where}: HTTP 403, {global_error} (Business App {app!r} in environment "
                f"{self.environment!r})",
                global_error,
            )
        if response.status_code in (401, 403):
            reason = (
                "the Authorization header or the token is wrong for this environment"
                if response.status_code == 401
                else "the Business App API is not enabled for this environment"
            )
            raise Workspace365AuthError(f"{where}: HTTP {response.status_code}, {reason}")
        if response.status_code == 404:
            said = f": {global_error}" if global_error else ""
            raise Workspace365NotFoundError(
                f"{where}: HTTP 404{said}; no Business App {app!r} in environment "
                f"{self.environment!r} (or it is not installed, or not enabled)",
                global_error,
            )
        if response.status_code >= 500:
            raise Workspace365UncertainError(
                f"{where}: HTTP {response.status_code}; the record may or may not exist"
            )
        raise Workspace365Error(f"{where}: unexpected HTTP {response.status_code}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _errors(body: Any) -> tuple[str | None, dict[str, str]]:
    if not isinstance(body, dict):
        return None, {}
    global_error = body.get("globalError")
    message = global_error.get("message") if isinstance(global_error, dict) else None
    fields = body.get("fieldErrors")
    field_errors = {
        str(name): str(error.get("message") if isinstance(error, dict) else error)
        for name, error in (fields.items() if isinstance(fields, dict) else [])
    }
    return (str(message) if message is not None else None), field_errors
