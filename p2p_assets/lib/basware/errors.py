"""What can go wrong when talking to the Basware Data Access API, as exceptions.

Every message names Basware, the method and endpoint path, and the HTTP status, plus the vendor's
own error text, so that a failed Dagster run says what to look at. No message ever contains a
credential: the client never puts one in a URL, and vendor text is only ever read from response
bodies (the token client additionally scrubs its secret from them).
"""

import json
from typing import Any

import httpx

# Vendor error texts can be long (an HTML error page from a proxy); keep messages readable.
_MAX_DETAIL = 500
HINT_403 = (
    "Check the API user's access rights and the token scopes (dataExtract.read to list and "
    "download, dataExtract.write to acknowledge)"
)


class BaswareError(Exception):
    """Any failure of the Basware client."""


class BaswareConfigError(BaswareError, ValueError):
    """The client was configured wrongly (e.g. neither OAuth2 nor Basic credentials given)."""


class BaswareConnectionError(BaswareError):
    """No HTTP answer at all (connection refused, timeouts, dropped connections), after retries."""


class BaswareResponseError(BaswareError):
    """An answer whose body is not what the API documents (not JSON, wrong shape, no id)."""


class BaswareAPIError(BaswareError):
    """Basware answered with an error status (after any retries the transport made)."""

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
        message = f"Basware {method} {endpoint} answered HTTP {status}"
        if detail:
            message += f": {detail}"
        if attempts is not None and attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class BaswareAuthError(BaswareAPIError):
    """Authentication failed: the token endpoint refused the client, or the API refused the token
    or Basic credentials even after one refresh."""


class BaswareDownloadLimitError(BaswareAPIError):
    """A file download was refused with 403.

    Every extract may be downloaded a limited number of times (50 in the current edition of the
    service, 5 in the earlier one); a 403 on the download path almost always means that limit is
    spent, and only a change request to Basware can reset it.
    """

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
        super().__init__(
            status,
            method,
            endpoint,
            detail,
            attempts=attempts,
            hint=hint
            or (
                "The extract's download limit is probably spent; a change request to Basware is "
                "needed to download it again"
            ),
        )


class BaswareDownloadError(BaswareError):
    """A file download did not complete (connection cut, fewer bytes than announced)."""


def error_detail(body: bytes | str) -> str | None:
    """The vendor's error text from a response body, in any of the documented shapes.

    Basware answers `{"message": ...}` (401, 500), `{"detail": "..."}` (404),
    `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}` (422) and, from the token endpoint,
    `{"error": ..., "error_description": ...}`. Anything else is shown as (shortened) text.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except ValueError:
        return _shorten(" ".join(text.split()))
    if not isinstance(data, dict):
        return _shorten(text)
    parts: list[str] = []
    error = data.get("error")
    if isinstance(error, str) and error:
        parts.append(error)
    for key in ("error_description", "message", "Message", "title"):
        value = data.get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    detail = _format_detail(data.get("detail"))
    if detail and detail not in parts:
        parts.append(detail)
    return _shorten(": ".join(parts)) if parts else _shorten(text)


def _format_detail(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail or None
    if isinstance(detail, list):
        items: list[str] = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc")
                where = ".".join(str(part) for part in loc) if isinstance(loc, list) else None
                msg = str(item.get("msg", item))
                items.append(f"{where}: {msg}" if where else msg)
            else:
                items.append(str(item))
        return "; ".join(items) or None
    return None


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def raise_for_status(response: httpx.Response, method: str, endpoint: str) -> None:
    """Turn an error answer (body already read) into the matching Basware exception."""
    if response.is_success:
        return
    status = response.status_code
    detail = error_detail(response.content)
    attempts = response.extensions.get("retry_attempts")
    if status == 401:
        raise BaswareAuthError(
            status,
            method,
            endpoint,
            detail,
            attempts=attempts,
            hint="Check the Basware credentials",
        )
    hint = HINT_403 if status == 403 else None
    raise BaswareAPIError(status, method, endpoint, detail, attempts=attempts, hint=hint)


def connection_error(
    method: str, endpoint: str, exc: httpx.TransportError
) -> BaswareConnectionError:
    return BaswareConnectionError(
        f"Basware {method} {endpoint}: no answer: {describe_exception(exc)}"
    )


def describe_exception(exc: BaseException) -> str:
    notes = "; ".join(getattr(exc, "__notes__", []))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{text} ({notes})" if notes else text
