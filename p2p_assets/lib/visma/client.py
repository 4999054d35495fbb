"""A synchronous client for the Visma Youforce File API (list, download, delete, upload).

One `VismaClient` owns one `httpx.Client` (a context manager, one per run). Requests go through
`VismaTokenAuth` (bearer token, shared quota-saving cache), then a `RetryingTransport` (5xx, 499
and network errors, up to 10 retries, as the vendor's scripts do) and a `PacingTransport`
(spike arrest pacing, 429 handling) before reaching the network; see `pacing.py` for the order.

Hosts: current `https://fileapi.youforce.com/v1.0` with Visma Connect tokens; legacy
`https://api.raet.com/mft/v1.0` (`api-test.raet.com`, `api-acc.raet.com`) with legacy tokens and
the `x-raet-tenant-id` header on every request.
"""

import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from p2p_assets.lib import clock as clocks
from p2p_assets.lib.files import partial_path
from p2p_assets.lib.http import RetryingTransport, RetryPolicy, make_timeout, network_transport
from p2p_assets.lib.visma.download import finish, parse_content_range, safe_file_name
from p2p_assets.lib.visma.errors import (
    VismaDownloadError,
    VismaError,
    VismaResponseError,
    connection_error,
    describe_exception,
    error_detail,
    raise_for_status,
)
from p2p_assets.lib.visma.models import Page, VismaFile
from p2p_assets.lib.visma.pacing import Pacer, PacingTransport
from p2p_assets.lib.visma.upload import (
    MAX_CHUNK,
    MULTIPART_LIMIT,
    RESUMABLE_CHUNK,
    multipart_related,
    read_chunks,
    validate_file_name,
)
from p2p_assets.lib.visma.usage import ConcurrencySlots, UsageLedger, UsageTransport

log = logging.getLogger(__name__)

CURRENT_URL = "https://fileapi.youforce.com/v1.0"
LEGACY_URL = "https://api.raet.com/mft/v1.0"
DOWNLOAD_CHUNK = 8 * 1024 * 1024
SINGLE_GET_LIMIT = 100 * 1024 * 1024  # up to here one plain GET, as the vendor's scripts do
PAGE_SIZE = 1000  # the largest page the API allows

DEFAULT_RETRY = RetryPolicy(
    max_attempts=11,
    backoff_base=1.0,
    backoff_cap=30.0,
    retry_statuses=frozenset({499, *range(500, 600)}),
    max_total_seconds=900.0,
)
"""5xx and 499 retried up to 10 times (11 attempts); 429 is the pacing transport's. POSTs are not
resent after a 5xx (a multipart upload might then exist twice); PUT chunks are, as the manual
asks."""

_USER_AGENT = "p2p_assets-visma-client/0.1"


class VismaClient:
    """The File API of one tenant, for one app (subscriber and/or publisher).

    `transport` replaces the network (tests pass an `httpx.MockTransport`); it is still wrapped by
    the usage, pacing and retrying transports. `sleep` is used for every wait (pacing, 429,
    backoff; default the product's clock). `usage` and `slots` keep every API call inside the plan
    across processes (usage.py); without them only the spike arrest is kept.
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        tenant_id: str | None = None,
        timeout: httpx.Timeout | None = None,
        pacer: Pacer | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        download_attempts: int = 5,
        usage: UsageLedger | None = None,
        slots: ConcurrencySlots | None = None,
    ) -> None:
        # Legacy calls name the tenant in x-raet-tenant-id; the guide makes the header optional
        # for an app authorised for a single tenant, so without a tenant id it is left out.
        self.base_url = base_url.rstrip("/")
        self._policy = retry if retry is not None else DEFAULT_RETRY
        self._sleep = sleep or (lambda seconds: clocks.current().sleep(seconds))
        self._rng = rng if rng is not None else random.Random()
        self._download_attempts = max(1, download_attempts)
        network = UsageTransport(
            transport if transport is not None else network_transport(), self.base_url, usage,
            slots,
        )  # fmt: skip
        pacing = PacingTransport(network, pacer or Pacer(sleep=self._sleep), sleep=self._sleep)
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if tenant_id:
            headers["x-raet-tenant-id"] = tenant_id
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout if timeout is not None else make_timeout(),
            transport=RetryingTransport(pacing, self._policy, sleep=self._sleep, rng=self._rng),
            follow_redirects=False,
            headers=headers,
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

    # --- subscriber and publisher lists ------------------------------------------------------

    def list_files(
        self,
        filter: str | None = None,  # the API's own name ($filter)
        order_by: str = "uploadDate asc",
        role: str = "subscriber",
        *,
        page_size: int = PAGE_SIZE,
        max_pages: int = 10_000,
    ) -> list[VismaFile]:
        """Every file matching `filter`, oldest first by default, all pages read before returning.

        The subscriber `count` shrinks as files are downloaded, so paging while downloading
        skips files: list everything first, then download. A file seen on two pages (the list
        moved under us) is kept once.
        """
        files: list[VismaFile] = []
        seen: set[str] = set()
        for page_index in range(max_pages):
            params = {"role": role, "pageIndex": str(page_index), "pageSize": str(page_size)}
            if filter:
                params["$filter"] = filter
            if order_by:
                params["$orderBy"] = order_by
            page = Page.from_api(self._json("GET", "/files?" + query_string(params)))
            for file in page.files:
                if file.file_id not in seen:
                    seen.add(file.file_id)
                    files.append(file)
            if not page.files or len(page.files) < page_size:
                break
            if page.count is not None and (page_index + 1) * page_size >= page.count:
                break
        else:
            raise VismaResponseError(f"Visma file list did not end within {max_pages} pages")
        log.info("Visma lists %d %s file(s) (filter %r)", len(files), role, filter)
        return files

    # --- download ----------------------------------------------------------------------------

    def download(
        self,
        file: VismaFile,
        dest_dir: Path | str,
        chunk_size: int = DOWNLOAD_CHUNK,
        *,
        role: str = "subscriber",
    ) -> tuple[Path, int, str]:
        """Download `file` to `dest_dir/<file_name>`; (path, size, sha256).

        A file the list says is at most 100 MB costs one call: a plain GET, as Visma's own scripts
        do. Larger files, files of unknown size and a download to resume go by HEAD and Range
        requests: bytes go to `<name>.partial`, and a cut connection resumes from its size (also
        across runs), up to `download_attempts` cuts in a row without progress. The final size
        must equal the announced one before the atomic rename.
        """
        final_path = Path(dest_dir) / safe_file_name(file.file_name)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(final_path)
        path = f"/files/{_segment(file.file_id)}"
        params = {"role": role}
        fresh = not partial.exists() or partial.stat().st_size == 0
        if fresh and file.file_size is not None and file.file_size <= SINGLE_GET_LIMIT:
            try:
                size = self._fetch_whole(path, params, partial, file)
                landed = finish(partial, final_path, size)
                log.info("Landed %s (%d bytes, sha256 %s)", landed[0], landed[1], landed[2])
                return landed
            except httpx.TransportError as exc:
                log.warning(
                    "Download of Visma file %s cut at byte %d (%s); resuming by ranges",
                    file.file_name, partial.stat().st_size if partial.exists() else 0,
                    describe_exception(exc),
                )  # fmt: skip
        return self._download_ranges(file, path, params, partial, final_path, chunk_size)

    def _fetch_whole(
        self, path: str, params: Mapping[str, str], partial: Path, file: VismaFile
    ) -> int:
        """GET the whole file into `partial`; its size as announced (Content-Length, or listed)."""
        headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
        request = self._http.build_request("GET", path, params=params, headers=headers)
        response = self._http.send(request, stream=True)
        try:
            if response.status_code != 200:
                response.read()
                raise_for_status(response, "GET", path)
                raise VismaResponseError(f"Visma GET {path} answered {response.status_code}")
            length = response.headers.get("Content-Length", "").strip()
            size = int(length) if length.isdigit() else file.file_size
            assert size is not None
            with partial.open("wb") as handle:
                try:
                    for block in response.iter_bytes():  # as received: a cut keeps them
                        handle.write(block)
                finally:
                    handle.flush()
            return size
        finally:
            response.close()

    def _download_ranges(
        self,
        file: VismaFile,
        path: str,
        params: Mapping[str, str],
        partial: Path,
        final_path: Path,
        chunk_size: int,
    ) -> tuple[Path, int, str]:
        size = self._remote_size(path, params, file)
        offset = partial.stat().st_size if partial.exists() else 0
        if offset > size:
            log.warning("Discarding %s: larger than the file (%d > %d)", partial, offset, size)
            partial.unlink()
            offset = 0
        failures = 0
        while offset < size:
            last = min(offset + chunk_size, size) - 1
            try:
                offset, size = self._fetch_range(path, params, partial, offset, last, size)
                failures = 0
            except httpx.TransportError as exc:
                now = partial.stat().st_size if partial.exists() else 0
                failures = 0 if now > offset else failures + 1
                offset = now
                if failures >= self._download_attempts:
                    raise VismaDownloadError(
                        f"Visma GET {path}: download of {file.file_name} cut off "
                        f"{failures} times at byte {offset}: {describe_exception(exc)}"
                    ) from exc
                wait = self._policy.backoff(failures + 1, self._rng)
                log.warning(
                    "Download of Visma file %s cut at byte %d of %d (%s); resuming in %.2f s",
                    file.file_name, offset, size, describe_exception(exc), wait,
                )  # fmt: skip
                self._sleep(wait)
        if not partial.exists():
            partial.touch()  # an empty file
        landed = finish(partial, final_path, size)
        log.info("Landed %s (%d bytes, sha256 %s)", landed[0], landed[1], landed[2])
        return landed

    def _remote_size(self, path: str, params: Mapping[str, str], file: VismaFile) -> int:
        response = self._request("HEAD", path, params=params)
        raise_for_status(response, "HEAD", path)
        length = response.headers.get("Content-Length")
        if length is not None and length.strip().isdigit():
            return int(length)
        if file.file_size is not None:
            return file.file_size
        raise VismaResponseError(f"Visma HEAD {path} gave no Content-Length and the list no size")

    def _fetch_range(
        self,
        path: str,
        params: Mapping[str, str],
        partial: Path,
        offset: int,
        last: int,
        size: int,
    ) -> tuple[int, int]:
        """Append bytes `offset..last` to `partial`; returns (new offset, file size)."""
        headers = {
            "Accept": "application/octet-stream",
            "Accept-Encoding": "identity",
            "Range": f"bytes={offset}-{last}",
        }
        request = self._http.build_request("GET", path, params=params, headers=headers)
        response = self._http.send(request, stream=True)
        try:
            if response.status_code == 416:
                response.read()
                total = parse_content_range(response.headers.get("Content-Range"))[2]
                if total is None:
                    raise_for_status(response, "GET", path)
                assert total is not None
                if total < offset:
                    log.warning(
                        "Visma says the file has %d bytes, fewer than %s holds; restarting",
                        total,
                        partial.name,
                    )
                    partial.unlink(missing_ok=True)
                    return 0, total
                return offset, total  # the partial file already holds everything (or the rest)
            if response.status_code not in (200, 206):
                response.read()
                raise_for_status(response, "GET", path)
                raise VismaResponseError(f"Visma GET {path} answered {response.status_code}")
            mode = "ab"
            if response.status_code == 200:
                # Range ignored: the whole file comes; start over.
                mode, offset = "wb", 0
            else:
                first, _, total = parse_content_range(response.headers.get("Content-Range"))
                if first is not None and first != offset:
                    raise VismaDownloadError(
                        f"Visma GET {path}: asked for bytes from {offset}, got from {first}"
                    )
                if total is not None and total != size:
                    raise VismaDownloadError(
                        f"Visma GET {path}: the file is {total} bytes now, HEAD said {size}"
                    )
            with partial.open(mode) as handle:
                try:
                    for block in response.iter_bytes():  # as received: a cut keeps them
                        handle.write(block)
                finally:
                    handle.flush()
            return partial.stat().st_size, size
        finally:
            response.close()

    # --- other subscriber / publisher endpoints -----------------------------------------------

    def delete(self, file_id: str, role: str = "subscriber") -> None:
        """Delete a file for this app only (others subscribed still see it)."""
        path = f"/files/{_segment(file_id)}"
        response = self._request(
            "DELETE", path, params={"role": role}, headers={"Accept": "application/octet-stream"}
        )
        raise_for_status(response, "DELETE", path)
        log.info("Deleted Visma file %s (%s)", file_id, role)

    def business_type(self, business_type_id: int | str, extended: bool = True) -> dict[str, Any]:
        """The business type as the API describes it (with `extended`, whether we subscribe)."""
        path = f"/businesstypes/{_segment(str(business_type_id))}"
        params = {"extended": "true"} if extended else None
        data = self._json("GET", path, params=params)
        if not isinstance(data, dict):
            raise VismaResponseError(f"Visma GET {path}: not a JSON object")
        return data

    def heartbeat(self) -> bool:
        """True if the File API answers; raises a `VismaError` otherwise."""
        response = self._request("GET", "/heartbeat")
        raise_for_status(response, "GET", "/heartbeat")
        return True

    # --- upload ------------------------------------------------------------------------------

    def upload(
        self,
        path: Path | str,
        business_type_id: int | str,
        name: str | None = None,
        *,
        resumable: bool | None = None,
        chunk_size: int = RESUMABLE_CHUNK,
    ) -> VismaFile:
        """Publish a file; returns the new file's metadata.

        The name (default: the file's own) is checked against the manual's rules first. Files up
        to 100 MB go in one multipart request; larger ones (or `resumable=True`) in chunks of
        `chunk_size` (4 MB, at most 9 MB), the last PUT closing the session.
        """
        source = Path(path)
        file_name = validate_file_name(name or source.name)
        if not 0 < chunk_size <= MAX_CHUNK:
            raise VismaError(f"Visma upload chunks must be 1 byte to 9 MB, not {chunk_size}")
        size = source.stat().st_size
        if resumable is None:
            resumable = size > MULTIPART_LIMIT
        if not resumable:
            if size > MULTIPART_LIMIT:
                raise VismaError(f"{file_name} is {size} bytes; multipart uploads stop at 100 MB")
            content_type, body = multipart_related(file_name, business_type_id, source.read_bytes())
            data = self._json(
                "POST", "/files", params={"uploadType": "multipart"},
                headers={"Content-Type": content_type}, content=body,
            )  # fmt: skip
        else:
            data = self._upload_resumable(source, file_name, business_type_id, chunk_size)
        uploaded = VismaFile.from_api(data)
        log.info("Uploaded %s to Visma as %s (%s)", source, file_name, uploaded.file_id)
        return uploaded

    def _upload_resumable(
        self, source: Path, file_name: str, business_type_id: int | str, chunk_size: int
    ) -> Any:
        chunks = read_chunks(source, chunk_size)
        content_type, body = multipart_related(file_name, business_type_id, next(chunks))
        started = self._json(
            "POST", "/files", params={"uploadType": "resumable"},
            headers={"Content-Type": content_type}, content=body,
        )  # fmt: skip
        token = started.get("uploadToken") if isinstance(started, dict) else None
        if not token:
            raise VismaResponseError("Visma POST /files (resumable) gave no uploadToken")
        position = 0
        pending = next(chunks, None)
        while pending is not None:
            position += 1
            following = next(chunks, None)
            params = {"uploadType": "resumable", "uploadToken": str(token),
                      "position": str(position)}  # fmt: skip
            if following is None:
                params["close"] = "true"
            data = self._json(
                "PUT", "/files", params=params,
                headers={"Content-Type": "application/octet-stream"}, content=pending,
                allow_empty=True,
            )  # fmt: skip
            if following is None:
                return data
            pending = following
        # Everything went in the first request: close the session with an empty POST.
        return self._json(
            "POST", "/files", params={"uploadType": "resumable", "uploadToken": str(token)}
        )

    # --- plumbing ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send a request and read the whole answer; network failures become Visma errors."""
        try:
            response = self._http.request(
                method, path, params=params, headers=headers, content=content
            )
        except httpx.TransportError as exc:
            raise connection_error(method, path, exc) from exc
        return response

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        allow_empty: bool = False,
    ) -> Any:
        response = self._request(method, path, params=params, headers=headers, content=content)
        raise_for_status(response, method, path)
        if allow_empty and not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise VismaResponseError(
                f"Visma File API {method} {path} answered HTTP {response.status_code} with a "
                f"body that is not JSON: {error_detail(response.content)!r}"
            ) from None


def _segment(value: str) -> str:
    return quote(value, safe="")


def query_string(params: Mapping[str, str]) -> str:
    """The query as Visma's artifacts send it: `$filter` and `$orderBy` literally, spaces as %20,
    quotes and parentheses as they are (httpx would send `%24filter` and `+`)."""
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe=QUERY_SAFE)}" for k, v in params.items())


QUERY_SAFE = "'(),:"
