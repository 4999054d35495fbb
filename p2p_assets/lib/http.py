"""HTTP plumbing shared by every vendor client: retries, timeouts and log-safe URLs.

The retrying sits in a transport, below `httpx.Client`, so that everything the client sends is
covered the same way: API calls, the token requests an `httpx.Auth` flow yields, and each hop of a
redirect chain. The transport only decides *whether and when* to send a request again; turning a
final failure into a vendor-specific error is the vendor client's job.
"""

import email.utils
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
"""Statuses that mean "try again later": throttled, or the platform is (re)scaling or failing."""

IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

# Errors raised before a single byte of the request reached the server: safe to retry any method.
_NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Errors that are our own fault (bad URL, malformed request): retrying cannot help.
_PERMANENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

# Query parameters whose values are logged as they are; every other value is masked, because a
# redirect may point at a pre-signed storage URL whose query carries a signature or credential.
_LOGGABLE_QUERY_PARAMS = frozenset({"file", "processingstatus", "page", "status"})


@dataclass(frozen=True)
class RetryPolicy:
    """When to send a request again.

    `max_attempts` counts every attempt, the first one included. Waits grow exponentially
    (`backoff_base * 2**n`, capped at `backoff_cap`) with full jitter, i.e. a uniform draw between
    zero and that bound, so that many clients failing together do not come back together. A
    `Retry-After` header replaces the drawn wait (plus at most `backoff_base` of jitter), but is
    never honoured beyond `max_retry_after` seconds. Nothing is retried once `max_total_seconds`
    would be exceeded.

    By default only idempotent methods are retried after an error that may have happened once the
    request was sent (read timeouts, dropped connections, 5xx). POSTs are still retried when the
    server cannot have acted on them: connection never established, or 429. Clients whose POSTs are
    safe to repeat set `retry_non_idempotent=True`.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    max_retry_after: float = 120.0
    max_total_seconds: float = 300.0
    retry_non_idempotent: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy waits must not be negative")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """The jittered wait before retry number `retry_number` (1 for the first retry)."""
        bound = min(self.backoff_cap, self.backoff_base * 2 ** max(0, retry_number - 1))
        return rng.uniform(0.0, bound)

    def wait_for(self, retry_number: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before a retry, honouring the server's `Retry-After` (in seconds) if any."""
        if retry_after is None:
            return self.backoff(retry_number, rng)
        return min(retry_after, self.max_retry_after) + rng.uniform(0.0, self.backoff_base)


def make_timeout(
    connect: float = 10.0, read: float = 60.0, write: float = 60.0, pool: float = 10.0
) -> httpx.Timeout:
    """Explicit timeouts for vendor APIs.

    Connecting and waiting for a pooled connection should be quick; `read` is the longest silence
    tolerated *between* bytes (not for a whole download), generous because vendors build some
    answers (extract lists, file redirects) on demand.
    """
    return httpx.Timeout(connect=connect, read=read, write=write, pool=pool)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a `Retry-After` header: delta-seconds or an HTTP-date.

    Returns None when the header is absent or unreadable, and never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact_url(url: httpx.URL | str) -> str:
    """The URL as it may appear in logs and error messages: no user info, query values masked."""
    parsed = httpx.URL(url)
    clean = str(parsed.copy_with(userinfo=b"", query=None, fragment=None))
    params = [
        f"{key}={value if key.lower() in _LOGGABLE_QUERY_PARAMS else '***'}"
        for key, value in parsed.params.multi_items()
    ]
    return f"{clean}?{'&'.join(params)}" if params else clean


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def network_transport() -> httpx.HTTPTransport:
    """A transport to the network with certificate verification. The TLS context (the system's
    trusted certificates, ~45 ms to load) is built once per process and shared: a client per run
    or sensor tick would otherwise load it every time."""
    return httpx.HTTPTransport(verify=_tls_context())


class RetryingTransport(httpx.BaseTransport):
    """Wraps another transport and sends a request again on throttling, 5xx and network errors.

    A retryable response that is not retried (attempts, total time or idempotency exhausted) is
    returned as it is, with `response.extensions["retry_attempts"]` set, so the client can raise
    its own error naming the vendor. A network error that is not retried is re-raised unchanged
    (with a note saying how many attempts were made). Only the response head is covered: a
    connection cut while the caller reads a streamed body surfaces from the read, for the caller
    to handle.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport if transport is not None else network_transport()
        self.policy = policy if policy is not None else RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._transport.handle_request(request)
            except httpx.TransportError as exc:
                wait = self._wait_after_error(request, exc, attempt, started)
                if wait is None:
                    exc.add_note(f"gave up after {attempt} attempt(s)")
                    raise
                self._log_retry(request, type(exc).__name__, attempt, wait)
                self._sleep(wait)
                continue

            wait = self._wait_after_response(request, response, attempt, started)
            if wait is None:
                response.extensions = {**response.extensions, "retry_attempts": attempt}
                return response
            _discard(response)
            self._log_retry(request, str(response.status_code), attempt, wait)
            self._sleep(wait)

    def close(self) -> None:
        self._transport.close()

    def _may_resend(self, request: httpx.Request) -> bool:
        return self.policy.retry_non_idempotent or request.method.upper() in IDEMPOTENT_METHODS

    def _within_budget(self, attempt: int, wait: float, started: float) -> bool:
        if attempt >= self.policy.max_attempts:
            return False
        return self._clock() - started + wait <= self.policy.max_total_seconds

    def _wait_after_error(
        self, request: httpx.Request, exc: httpx.TransportError, attempt: int, started: float
    ) -> float | None:
        if isinstance(exc, _PERMANENT_ERRORS):
            return None
        if not isinstance(exc, _NOT_SENT_ERRORS) and not self._may_resend(request):
            return None
        wait = self.policy.backoff(attempt, self._rng)
        return wait if self._within_budget(attempt, wait, started) else None

    def _wait_after_response(
        self, request: httpx.Request, response: httpx.Response, attempt: int, started: float
    ) -> float | None:
        status = response.status_code
        if status not in self.policy.retry_statuses:
            return None
        # 429 means the request was refused unprocessed; a 5xx may come after a side effect.
        if status != 429 and not self._may_resend(request):
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = self.policy.wait_for(attempt, retry_after, self._rng)
        return wait if self._within_budget(attempt, wait, started) else None

    def _log_retry(self, request: httpx.Request, outcome: str, attempt: int, wait: float) -> None:
        log.warning(
            "%s %s answered %s (attempt %d of %d); retrying in %.2f s",
            request.method,
            redact_url(request.url),
            outcome,
            attempt,
            self.policy.max_attempts,
            wait,
        )


def _discard(response: httpx.Response) -> None:
    """Drain and close a response we will not use, so its connection can be reused."""
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()
