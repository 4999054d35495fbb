"""What can go wrong when talking to the Visma Youforce File API, as exceptions.

Every message names Visma, the method and endpoint path and the HTTP status, plus the vendor's
own text. The File API answers errors in two spellings: PascalCase from the upload endpoints
(`{"CorrelationId", "Message", "ErrorCode", "Exception"}`) and camelCase elsewhere
(`{"correlationId", "message", "errorCode", "statusCode"}`); both are read. No message contains a
credential: the secret and tokens never go into URLs, and vendor text is scrubbed of the secret.
"""

import json
from typing import Any

import httpx

_MAX_DETAIL = 500


class VismaError(Exception):
    """Any failure of the Visma File API client."""


class VismaConfigError(VismaError, ValueError):
    """The client or the authentication was configured wrongly."""


class VismaFileNameError(VismaError, ValueError):
    """A file name the File API would refuse (characters outside its set, or a banned extension)."""


class VismaConnectionError(VismaError):
    """No HTTP answer at all (connection refused, timeouts, dropped connections), after retries."""


class VismaResponseError(VismaError):
    """An answer whose body is not what the API documents (not JSON, wrong shape)."""


class VismaDownloadError(VismaError):
    """A download did not complete: cut too often, or the bytes do not add up to the file size."""


class VismaAPIError(VismaError):
    """Visma answered with an error status (after any retries the transports made)."""

    def __init__(
        self,
        status: int,
        method: str,
        endpoint: str,
        detail: str | None = None,
        *,
        attempts: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.endpoint = endpoint
        self.detail = detail
        self.attempts = attempts
        message = f"Visma File API {method} {endpoint} answered HTTP {status}"
        if detail:
            message += f": {detail}"
        if attempts is not None and attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class VismaAuthError(VismaAPIError):
    """The token endpoint refused the client, or the API refused the token after one refresh."""


class VismaQuotaError(VismaError):
    """A call or token the plan does not allow now (outside the window, a cap reached, the month's
    authentication calls used, as counted on this machine); nothing was sent."""


class VismaRateLimitError(VismaAPIError):
    """Still answered 429 (spike arrest or quota) after the pacing transport gave up waiting."""


def _get(data: dict[str, Any], key: str) -> Any:
    """`data[key]` matching the key without regard to case (PascalCase and camelCase bodies)."""
    lowered = key.lower()
    for name, value in data.items():
        if str(name).lower() == lowered:
            return value
    return None


def error_detail(body: bytes | str, secret: str | None = None) -> str | None:
    """The vendor's error text from a response body, e.g. `Range not satisfiable. (errorCode 416,
    correlationId rrt-...)`; non-JSON bodies are shown shortened. `secret` is masked."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except ValueError:
        return _scrub(_shorten(" ".join(text.split())), secret)
    if not isinstance(data, dict):
        return _scrub(_shorten(text), secret)
    fault = _get(data, "fault")
    if isinstance(fault, dict):  # the API gateway's policy answers (429: spike arrest, quotas)
        code = (_get(fault, "detail") or {}).get("errorcode") if isinstance(
            _get(fault, "detail"), dict) else None  # fmt: skip
        detail = str(_get(fault, "faultstring") or "gateway fault")
        return _scrub(_shorten(f"{detail} ({code})" if code else detail), secret)
    parts: list[str] = []
    for key in ("message", "error", "error_description", "exception"):
        value = _get(data, key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    extras = []
    code = _get(data, "errorCode")
    if code not in (None, ""):
        extras.append(f"errorCode {code}")
    correlation = _get(data, "correlationId")
    if correlation:
        extras.append(f"correlationId {correlation}")
    detail = ": ".join(parts) if parts else None
    if extras:
        detail = f"{detail or 'error'} ({', '.join(extras)})"
    return _scrub(_shorten(detail if detail else text), secret)


def is_authentication_failure(response: httpx.Response) -> bool:
    """A 401, or a 403 carrying the documented authentication body (read already).

    Since 2021 some unauthorised calls answer 403 instead of 401; a 403 for an unsubscribed
    business type carries another message and is not an authentication failure.
    """
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    try:
        data: Any = json.loads(response.content)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    code = str(_get(data, "errorCode") or "").lower()
    message = str(_get(data, "message") or "").lower()
    return code == "unauthorized" or message == "authentication error"


def raise_for_status(
    response: httpx.Response, method: str, endpoint: str, *, hint: str | None = None
) -> None:
    """Turn an error answer (body already read) into the matching Visma exception."""
    if response.is_success:
        return
    status = response.status_code
    detail = error_detail(response.content)
    attempts = response.extensions.get("retry_attempts")
    if is_authentication_failure(response):
        raise VismaAuthError(
            status,
            method,
            endpoint,
            detail,
            attempts=attempts,
            hint=hint or "Check the client id, secret and tenant of the Visma app",
        )
    if status == 429:
        raise VismaRateLimitError(
            status,
            method,
            endpoint,
            detail,
            attempts=attempts,
            hint=hint or "Spike arrest or the plan's call quota; try again in the next window",
        )
    if status == 403 and hint is None:
        hint = "Is the app subscribed to (or publisher of) this business type for this tenant?"
    raise VismaAPIError(status, method, endpoint, detail, attempts=attempts, hint=hint)


def connection_error(method: str, endpoint: str, exc: httpx.TransportError) -> VismaConnectionError:
    return VismaConnectionError(
        f"Visma File API {method} {endpoint}: no answer: {describe_exception(exc)}"
    )


def describe_exception(exc: BaseException) -> str:
    notes = "; ".join(getattr(exc, "__notes__", []))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{text} ({notes})" if notes else text


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
