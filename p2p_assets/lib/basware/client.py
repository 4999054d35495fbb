"""A synchronous client for the Basware Data Access API (extract lists, files, acknowledgement).

One `BaswareClient` owns one `httpx.Client` (use it as a context manager, one per run). Below it a
`RetryingTransport` retries throttling, 5xx and network errors; above it the auth (OAuth2 or Basic)
sets the Authorization header on every request. Redirects are followed here rather than by httpx,
because Basware requires every header, Authorization and Date included, on the redirected request,
and httpx drops Authorization when a redirect leaves the origin. A redirect to another host (a
pre-signed storage URL) that refuses the second credential with 400/401/403 is tried once more
without Authorization.
"""

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from p2p_assets.lib.basware.download import land_response, safe_file_name
from p2p_assets.lib.basware.errors import (
    BaswareAPIError,
    BaswareDownloadError,
    BaswareDownloadLimitError,
    BaswareError,
    BaswareResponseError,
    connection_error,
    describe_exception,
    error_detail,
    raise_for_status,
)
from p2p_assets.lib.basware.models import (
    Extract,
    ExtractFile,
    ExtractListing,
    LandedFile,
    TableDefinition,
    as_list,
    in_extract_order,
)
from p2p_assets.lib.http import RetryingTransport, RetryPolicy, make_timeout, redact_url

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.basware.com"
TEST_URL = "https://test-api.basware.com"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What storage services answer a request whose URL is pre-signed when it also carries our token.
SECOND_CREDENTIAL_REFUSED = frozenset({400, 401, 403})
DEFAULT_RETRY = RetryPolicy(retry_non_idempotent=True)
"""Basware's only POSTs may be repeated safely: a token request creates nothing (each answer is a
fresh token, earlier ones stay valid), and acknowledging sets an extract's status to Exported, so
doing it twice leaves the same state as doing it once."""

_USER_AGENT = "p2p_assets-basware-client/0.1"


class BaswareClient:
    """The Data Access API of one Basware host.

    `base_url` is the host (`https://api.basware.com`, `https://test-api.basware.com` or a sandbox
    URL); `auth` comes from `basware_auth(...)`. `transport` replaces the network (tests pass an
    `httpx.MockTransport`); it is still wrapped in the retrying transport. A download cut off
    mid-body is tried again from the start up to `download_attempts` times in all: Basware documents
    no range requests, and each attempt counts against the extract's download limit.
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        download_attempts: int = 3,
        max_redirects: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._policy = retry if retry is not None else DEFAULT_RETRY
        self._download_attempts = max(1, download_attempts)
        self._max_redirects = max_redirects
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout if timeout is not None else make_timeout(),
            transport=RetryingTransport(transport, self._policy, sleep=sleep, rng=self._rng),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- endpoints -------------------------------------------------------------------------

    def list_extracts(self, processing_status: str | None = None) -> list[Extract]:
        """The tenant's usable extracts in extract order (see `extract_listing`)."""
        return self.extract_listing(processing_status).extracts

    def extract_listing(self, processing_status: str | None = None) -> ExtractListing:
        """Extracts of the tenant in extract order, and the items refused (each with a reason).

        `processing_status` filters on `WaitingForExport` or `Exported`; None lists both.
        """
        params = {"processingStatus": processing_status} if processing_status else None
        items = as_list(self._json("GET", "/v1/dataExtracts", params=params), "extract list")
        extracts, refused = [], []
        for item in items:
            try:
                extracts.append(Extract.from_api(item))
            except BaswareResponseError as exc:
                log.error("%s", exc)
                refused.append(str(exc))
        log.info(
            "Basware lists %d extract(s) (processingStatus=%s), %d refused",
            len(extracts),
            processing_status,
            len(refused),
        )
        return ExtractListing(in_extract_order(extracts), refused)

    def list_files(self, extract_id: str) -> list[ExtractFile]:
        """The files of one extract, with their download URLs."""
        path = f"/v1/dataExtracts/{_segment(extract_id)}"
        items = as_list(self._json("GET", path), "file list")
        files = [ExtractFile.from_api(item, extract_id=extract_id) for item in items]
        log.info("Basware extract %s has %d file(s)", extract_id, len(files))
        return files

    def acknowledge(self, extract_id: str) -> None:
        """Mark an extract as downloaded, so it is no longer listed as waiting for export.

        The manual names both `/v1/dataExtracts/{id}/acknowledge` and, once,
        `/v1/dataExtract/{id}/acknowledge`; the second is tried when the first answers 404 or 405.
        """
        paths = (
            f"/v1/dataExtracts/{_segment(extract_id)}/acknowledge",
            f"/v1/dataExtract/{_segment(extract_id)}/acknowledge",
        )
        for index, path in enumerate(paths):
            response = self._fetch("POST", path)
            if response.status_code in (404, 405) and index + 1 < len(paths):
                log.info(
                    "Basware POST %s answered %d; trying %s",
                    path,
                    response.status_code,
                    paths[index + 1],
                )
                continue
            raise_for_status(response, "POST", path)
            body = _json_body(response, "POST", path, allow_empty=True)
            if isinstance(body, dict) and body.get("succeeded") is False:
                raise BaswareAPIError(
                    response.status_code,
                    "POST",
                    path,
                    error_detail(response.content) or "not acknowledged",
                )
            log.info("Acknowledged Basware extract %s", extract_id)
            return

    def table_definition(self) -> list[TableDefinition]:
        """The specification of the tables inside the extract files."""
        path = "/v1/dataExtracts/specification/tableDefinition"
        return [TableDefinition.from_api(item) for item in as_list(self._json("GET", path), path)]

    def table_definition_changelog(self) -> list[dict[str, Any]]:
        """Versions of the table definition (added/removed tables and columns), as sent."""
        path = "/v1/dataExtracts/specification/tableDefinition/changeLog"
        items = as_list(self._json("GET", path), path)
        return [dict(item) for item in items if isinstance(item, Mapping)]

    def download(
        self,
        file: ExtractFile,
        dest_dir: Path,
        *,
        before_attempt: Callable[[int], None] | None = None,
    ) -> LandedFile:
        """Download one extract file to `dest_dir/<file_name>`, atomically, with its sha256.

        An existing file of that name is replaced. Raises `BaswareDownloadLimitError` on 403,
        `BaswareDownloadError` when every attempt was cut short. `before_attempt(n)` is called
        before attempt n is sent: every attempt may spend one of the extract's few downloads, so
        the caller counts them (and may stop by raising).
        """
        final_path = Path(dest_dir) / safe_file_name(file.file_name)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        # Ask for the bytes as stored; the files are compressed already.
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        log.info(
            "Downloading Basware %s file %s of extract %s",
            file.table_name,
            file.file_name,
            file.extract_id,
        )
        for attempt in range(1, self._download_attempts + 1):
            if before_attempt is not None:
                before_attempt(attempt)
            try:
                with self._open("GET", file.download_url, headers=headers) as response:
                    if response.status_code == 403:
                        response.read()
                        raise BaswareDownloadLimitError(
                            403,
                            "GET",
                            self._endpoint(response.url),
                            error_detail(response.content),
                            attempts=response.extensions.get("retry_attempts"),
                        )
                    if not response.is_success:
                        response.read()
                    raise_for_status(response, "GET", self._endpoint(response.url))
                    landed = land_response(response, final_path)
            except (httpx.TransportError, BaswareDownloadError) as exc:
                if attempt >= self._download_attempts:
                    endpoint = self._endpoint(httpx.URL(file.download_url))
                    raise BaswareDownloadError(
                        f"Basware GET {endpoint}: download of {file.file_name} failed after "
                        f"{attempt} attempt(s): {describe_exception(exc)}"
                    ) from exc
                wait = self._policy.backoff(attempt, self._rng)
                log.warning(
                    "Download of Basware file %s was cut short (%s); attempt %d of %d in %.2f s",
                    file.file_name,
                    describe_exception(exc),
                    attempt + 1,
                    self._download_attempts,
                    wait,
                )
                self._sleep(wait)
                continue
            log.info("Landed %s (%d bytes, sha256 %s)", landed.path, landed.size, landed.sha256)
            return landed
        raise AssertionError("unreachable")  # pragma: no cover

    # --- plumbing ----------------------------------------------------------------------------

    def _json(self, method: str, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        response = self._fetch(method, path, params=params)
        raise_for_status(response, method, self._endpoint(response.url))
        return _json_body(response, method, self._endpoint(response.url))

    def _fetch(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Send a request (following redirects) and read the whole answer."""
        with self._open(method, path, params=params) as response:
            try:
                response.read()
            except httpx.TransportError as exc:
                raise connection_error(method, self._endpoint(response.url), exc) from exc
        return response

    def _endpoint(self, url: httpx.URL) -> str:
        """Where an answer came from, for messages: the path, with the host when a redirect left
        the API host; never the query (pre-signed storage URLs carry secrets there)."""
        return url.path if url.host == self._http.base_url.host else f"{url.host}{url.path}"

    @contextmanager
    def _open(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """Send a request and follow redirects with every header re-sent; yields the final
        response unread (streamed) and closes it afterwards."""
        request = self._http.build_request(
            method, url, params=params, headers={**(headers or {}), "Date": _http_date()}
        )
        endpoint = self._endpoint(request.url)
        for hop in range(self._max_redirects + 1):
            try:
                response = self._http.send(request, stream=True)
                if hop and response.status_code in SECOND_CREDENTIAL_REFUSED:
                    response = self._without_credential(request, response)
            except httpx.TransportError as exc:
                raise connection_error(method, endpoint, exc) from exc
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                try:
                    yield response
                finally:
                    response.close()
                return
            try:
                response.read()
            except httpx.TransportError:
                pass  # the body of a redirect carries nothing we need
            finally:
                response.close()
            request = self._redirected(request, response.status_code, response.url.join(location))
            log.debug(
                "Basware %s %s redirected (%d, hop %d) to %s",
                method,
                endpoint,
                response.status_code,
                hop + 1,
                redact_url(request.url),
            )
        raise BaswareError(
            f"Basware {method} {endpoint}: more than {self._max_redirects} redirects"
        )

    def _without_credential(
        self, request: httpx.Request, refused: httpx.Response
    ) -> httpx.Response:
        """A redirect target on another host refused the request that carried our Authorization
        (pre-signed storage URLs take no second credential): send it once more without it."""
        if _origin(request.url) == _origin(self._http.base_url):
            return refused
        refused.read()
        refused.close()
        log.info(
            "Basware redirect target %s answered %d to a request with Authorization; "
            "retrying once without it",
            redact_url(request.url),
            refused.status_code,
        )
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "authorization"]
        bare = httpx.Request(request.method, request.url, headers=headers, content=request.read())
        return self._http.send(bare, stream=True, auth=None)

    def _redirected(self, request: httpx.Request, status: int, url: httpx.URL) -> httpx.Request:
        """The request to send to `url`: same headers (the auth sets Authorization again)."""
        if request.url.scheme == "https" and url.scheme != "https":
            raise BaswareError(
                f"Basware {request.method} {self._endpoint(request.url)}: refusing a redirect "
                f"from HTTPS to {redact_url(url)}, which would send credentials in clear text"
            )
        method = request.method
        content: bytes | None = request.read() or None
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, content = "GET", None
        drop = {"host", "authorization", "cookie", "date"}
        if content is None:
            drop |= {"content-length", "content-type", "transfer-encoding"}
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in drop]
        headers.append(("Date", _http_date()))
        return httpx.Request(method, url, headers=headers, content=content)


def _json_body(
    response: httpx.Response, method: str, endpoint: str, *, allow_empty: bool = False
) -> Any:
    if allow_empty and not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise BaswareResponseError(
            f"Basware {method} {endpoint} answered HTTP {response.status_code} with a body that is "
            f"not JSON: {error_detail(response.content)!r}"
        ) from None


def _segment(value: str) -> str:
    return quote(value, safe="")


def _http_date() -> str:
    """Now, as the HTTP `Date` header gives it (RFC 9110: `Tue, 01 Dec 2026 10:00:00 GMT`)."""
    return email.utils.formatdate(usegmt=True)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)
