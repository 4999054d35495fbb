"""What a sandbox app sees and answers: requests, responses, and a router from method + path
patterns to handlers. No sockets here: `http.py` serves an app over loopback HTTP.
"""

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote


class Headers(Mapping[str, str]):
    """Request headers looked up case-insensitively (the last value wins for repeated names)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Names only: values may carry credentials.
        return f"Headers({sorted(self)})"


@dataclass
class Request:
    """One HTTP request as the app sees it; `query` keeps the last value of each parameter."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    @property
    def base_url(self) -> str:
        """`http://host:port` as the client addressed us (used to build absolute links)."""
        return f"http://{self.headers.get('host', 'localhost')}"


Body = bytes | Iterable[bytes] | BinaryIO


@dataclass
class Response:
    """What the app answers.

    `body` is bytes, an iterable of byte chunks or an open binary file (closed after sending).
    Streamed bodies send `Content-Length` when `content_length` is known (files: their size),
    otherwise chunked transfer encoding. `drop_after` cuts the connection after that many body
    bytes, as a network failure half way through a download would.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
    content_length: int | None = None
    drop_after: int | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, payload)

    @classmethod
    def file(cls, path: Path, content_type: str, headers: Mapping[str, str] | None = None):
        handle = open(path, "rb")  # noqa: SIM115 - closed by the server after streaming
        size = os.fstat(handle.fileno()).st_size
        return cls(200, {"Content-Type": content_type, **(headers or {})}, handle, size)


App = Callable[[Request], Response]
Handler = Callable[[Request], Response]


class Router:
    """Maps `METHOD /path/{param}` to handlers; path parameters land in `request.path_params`."""

    def __init__(self, not_found: Handler | None = None, method_not_allowed: Handler | None = None):
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._not_found = not_found or (lambda _: Response.json({"detail": "Not Found"}, 404))
        self._not_allowed = method_not_allowed or (
            lambda _: Response.json({"detail": "Method Not Allowed"}, 405)
        )

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def __call__(self, request: Request) -> Response:
        path_matched = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            path_matched = True
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                request.path_params = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(request)
        return self._not_allowed(request) if path_matched else self._not_found(request)
