"""Access tokens shared by every process on the machine: one owner-only JSON file per vendor.

Sensor ticks, Dagster run workers and `p2p-assets sync` all need a vendor token. Fetching one per
process costs an authentication call each time (Visma counts them against a monthly quota;
Basware asks clients not to hammer it), so a token is cached here until shortly before it expires.
Entries are keyed by issuer, client and tenant, so two sets of credentials never share a token.
Whoever holds `locked()` while fetching a token makes processes that start together wait for that
one token instead of each fetching their own.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2p_assets.lib.locks import file_lock, write_private_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedToken:
    value: str
    expires_at: float  # wall clock (epoch seconds), comparable across processes
    refresh_at: float  # renew from this moment on


def cache_key(*parts: str | None) -> str:
    """A key for the credentials a token belongs to (never the secret itself)."""
    return hashlib.sha256("\n".join(p or "" for p in parts).encode()).hexdigest()


class TokenCache:
    """Tokens in `path` (created 0600), one entry per `cache_key`."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock

    @contextmanager
    def locked(self) -> Iterator[None]:
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            yield

    def get(self, key: str) -> CachedToken | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            return CachedToken(
                value=str(entry["access_token"]),
                expires_at=float(entry["expires_at"]),
                refresh_at=float(entry["refresh_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, token: CachedToken, **labels: str | None) -> None:
        """Store `token` under `key`; `labels` (issuer URL, client id) say whose it is."""
        now = self._clock()
        # Drop expired entries of any credentials so the file does not grow without bound.
        entries = {
            k: entry
            for k, entry in self._load().items()
            if isinstance(entry, dict) and _float(entry.get("expires_at")) > now
        }
        entries[key] = {
            "access_token": token.value,
            "expires_at": token.expires_at,
            "refresh_at": token.refresh_at,
            **labels,
        }
        write_private_atomically(self.path, json.dumps({"tokens": entries}, indent=1).encode())

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("Ignoring an unreadable token cache at %s", self.path)
            return {}
        tokens = data.get("tokens") if isinstance(data, dict) else None
        return dict(tokens) if isinstance(tokens, dict) else {}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
