"""Handing out a file's bytes, wherever the getFile redirect points (the API host's own
`/files/` path, or the storage server): one download counter and limit per (extract, file), and
the download faults (`drop_next_downloads`, `corrupt_files`) on either path.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from p2p_assets.sandbox.basware import archives, files
from p2p_assets.sandbox.http import Request, Response

if TYPE_CHECKING:
    from p2p_assets.sandbox.basware.sandbox import BaswareSandbox


def limit_message(sandbox: "BaswareSandbox", extract_id: str, name: str) -> str:
    limit = sandbox.config.download_limit
    return f"File {name} of extract {extract_id} has already been downloaded {limit} times"


def file_response(
    sandbox: "BaswareSandbox",
    request: Request,
    extract_id: str,
    index: int,
    name: str,
    refused: Callable[[], Response],
) -> Response | None:
    """The file `name` (its real name) of extract `index` as the answer to `request`; None when
    the extract has no such file, `refused()` when its downloads are used up.

    GET counts one download; HEAD shows the size without spending one of the extract's limited
    downloads.
    """
    faults = sandbox.faults()
    path = sandbox.file_path(index, name, faults)
    if path is None:
        return None
    state = sandbox.state
    limit = sandbox.config.download_limit
    if request.method != "HEAD" and state.count_download(extract_id, name, limit) is None:
        return refused()
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    kind = faults.corrupt_files.get(name)
    if kind is not None:
        content = archives.corrupt(path.read_bytes(), kind, name, sandbox.config.compression)
        response = Response(200, {"Content-Type": files.content_type(name), **headers}, content)
    else:
        response = Response.file(path, files.content_type(name), headers)
    # A HEAD has no body to cut, so it must not use up one of the drops either.
    if request.method != "HEAD" and state.take_drop():
        size = response.content_length if response.content_length is not None else 0
        if isinstance(response.body, bytes):
            size = len(response.body)
        response.drop_after = size // 2
    return response
