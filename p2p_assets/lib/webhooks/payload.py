"""What the receiver accepts as an event, and what identifies one.

A body is accepted only if the warehouse can take it later: JSON (RFC 8259: no `NaN` or
`Infinity`), an object, every string in it (keys too) encodable as UTF-8. Python's `json.loads`
accepts a lone surrogate such as `"\\ud800"`, which cannot be encoded and which DuckDB refuses:
stored, it would stop every later fold. Boss Insights' documented `event` and `requestId` must be
strings.

An event is identified by its whole body, not by `requestId` (Boss Insights may reuse a request id
for events of different content): the key is the sha256 of the body's canonical JSON (keys sorted,
no whitespace), so a retried delivery of the same event has the same key however it is formatted.
"""

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

# Never kept with an event: credentials (ours and any the vendor's proxy adds) and cookies.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


class RefusedEvent(ValueError):
    """A body the receiver refuses (400); the message is the reason, safe to answer."""


def _refuse_constant(name: str) -> Any:
    raise RefusedEvent(f"not JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: Python reads inf, which is no JSON value
        raise RefusedEvent(f"not JSON: {text} is out of range")
    return number


def parse(raw: bytes) -> dict[str, Any]:
    """The event in `raw`, or RefusedEvent saying why not."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RefusedEvent:
        raise
    except RecursionError:
        raise RefusedEvent("not accepted: nested too deeply") from None
    except UnicodeDecodeError:
        raise RefusedEvent("not JSON: the body is not UTF-8 text") from None
    except ValueError as exc:  # json.JSONDecodeError, and int() refusing a 5,000-digit number
        raise RefusedEvent(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RefusedEvent(f"not a JSON object but a JSON {_kind(body)}")
    where = unencodable(body)
    if where is not None:
        raise RefusedEvent(
            f"not accepted: the string at {where} is not valid Unicode (a lone surrogate such "
            "as \\ud800), which the warehouse cannot store"
        )
    for field in ("event", "requestId"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise RefusedEvent(f"not accepted: {field} must be a non-empty string")
    return body


def canonical(body: Any) -> str:
    """The body's canonical JSON: sorted keys, no whitespace, non-ASCII as itself."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_key(body: Any) -> str:
    """The sha256 of the canonical JSON: the same for every delivery of the same event."""
    # surrogatepass: rows stored before the door checked strings still get a key
    return hashlib.sha256(canonical(body).encode("utf-8", "surrogatepass")).hexdigest()


def unencodable(body: Any) -> str | None:
    """The JSON path of the first string (key or value) that UTF-8 cannot encode, or None."""
    try:
        canonical(body).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    stack: list[tuple[str, Any]] = [("$", body)]  # iterative: depth is the sender's choice
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _encodes(key):
                    return f"{path} (a key)"
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{n}]", item) for n, item in enumerate(value))
    return "$"  # not reached: canonical() only fails on a string


def kept_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request headers to keep with an event: lower-case names, repeated ones joined with
    ", " (as HTTP combines them), without credentials or cookies."""
    kept: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in SECRET_HEADERS:
            continue
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
