"""`VismaSandbox`: one simulated Youforce File API client application over a state dir, and its
Python API.

Delivered files are generated deterministically from the seed (ids, names, dates and bytes) and
written once under `state_dir/files/`; `deliver()` publishes more, as a payroll run would.

Every time the sandbox reads comes from its clock, `now()`: real time plus an offset kept in the
state dir, so tests (and every process serving the dir) can move through windows, months and
retention periods together.
"""

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from p2p_assets.sandbox import http
from p2p_assets.sandbox.visma import data
from p2p_assets.sandbox.visma.app import VismaApp
from p2p_assets.sandbox.visma.config import VismaFaults, VismaSandboxConfig
from p2p_assets.sandbox.visma.dates import format_date, utc
from p2p_assets.sandbox.visma.state import VismaState

LARGE_FILE_NAME = "sandbox_large_file.csv"
READ_SIZE = 64 * 1024


DAY_SECONDS = 86400


class VismaSandbox(http.ServedSandbox):
    """A simulated File API app whose state lives in `state_dir`.

    Several instances (in one or several processes) may share a state dir: tokens, quotas, spike
    arrest, downloads, uploads and faults are read from it on every request.
    """

    def __init__(self, config: VismaSandboxConfig, state_dir: Path | str):
        self.config = config
        self.state_dir = Path(state_dir)
        self.state = VismaState(self.state_dir)
        self.files_dir = self.state_dir / "files"
        self.uploads_dir = self.state_dir / "uploads"
        self.files_dir.mkdir(exist_ok=True)
        self.uploads_dir.mkdir(exist_ok=True)
        if self.state.next_seq() == 0:
            self._seed()

    # -- the clock ------------------------------------------------------------------------------
    def now(self) -> float:
        """The sandbox's time in epoch seconds: `time.time()` plus the shared clock offset."""
        return self.state.clock.read()[0]

    def clock_offset(self) -> float:
        return self.state.clock.read()[1]

    def set_clock_offset(self, seconds: float) -> None:
        self.state.clock.set_offset(seconds)

    def set_now(self, moment: datetime) -> None:
        """Move the clock so that `now()` is `moment` (a naive datetime is UTC) and runs on."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self.state.clock.set_offset(aware.timestamp() - time.time())

    def advance(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    def _uuid(self, *key: object) -> str:
        digest = hashlib.blake2b(repr((self.config.seed, *key)).encode(), digest_size=16)
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def _seed(self) -> None:
        seq = 0
        for business_type in self.config.subscriptions:
            for index in range(self.config.files_per_type[business_type]):
                self._deliver_one(business_type, index, seq)
                seq += 1
        if self.config.large_file_bytes:
            path = self.files_dir / "large.csv"
            if not path.exists() or path.stat().st_size != self.config.large_file_bytes:
                data.write_large_file(self.config, path, self.config.large_file_bytes)
            self._register(7101, -1, seq, LARGE_FILE_NAME, path)

    def _when(self, seq: int) -> datetime:
        jitter = data.rng_for(self.config, "when", seq).randrange(0, 3_600_000)
        return self.config.start + timedelta(hours=6 * seq, milliseconds=jitter)

    def _deliver_one(
        self, business_type: int, index: int, seq: int, delivered_at: float | None = None
    ) -> dict[str, Any]:
        name, content = data.generate(self.config, business_type, index, self._when(seq))
        path = self.files_dir / f"{business_type}-{index:05d}"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
        return self._register(business_type, index, seq, name, path, delivered_at)

    def _register(
        self,
        business_type: int,
        index: int,
        seq: int,
        name: str,
        path: Path,
        delivered_at: float | None = None,
    ) -> dict:
        """`delivered_at` None: seeded with the state (retention counts from `seeded_at`)."""
        row = {
            "id": self._uuid("file", business_type, index),
            "seq": seq,
            "role": "subscriber",
            "name": name,
            "size": path.stat().st_size,
            "business_type": business_type,
            "type_index": index,
            "tenant_id": self.config.tenant_id,
            "publisher_id": self._uuid("publisher", business_type),
            "upload_date": format_date(self._when(seq)),
            "path": str(path),
            "delivered_at": delivered_at,
        }
        self.state.add_file(row)
        return row

    # -- publication ----------------------------------------------------------------------------
    def deliver(self, business_type: int, n: int = 1) -> list[dict[str, Any]]:
        """Publish `n` more files of `business_type` (newest upload dates, retained from now
        on); their metadata."""
        if business_type not in data.GENERATORS:
            raise KeyError(f"no generator for business type {business_type}")
        delivered, now = [], self.now()
        for _ in range(n):
            index, seq = self.state.type_count(business_type), self.state.next_seq()
            delivered.append(self._deliver_one(business_type, index, seq, now))
        return delivered

    def add_uploaded_file(
        self, name: str, business_type: int, path: Path, num_chunks: int
    ) -> dict[str, Any]:
        """Register a file this app published (multipart or resumable upload)."""
        file_id, now = str(uuid.uuid4()), self.now()
        final = self.files_dir / f"upload-{file_id}"
        path.replace(final)
        row = {
            "id": file_id,
            "seq": self.state.next_seq(),
            "role": "publisher",
            "name": name,
            "size": final.stat().st_size,
            "business_type": business_type,
            "type_index": -1,
            "tenant_id": self.config.tenant_id,
            "publisher_id": self._uuid("publisher", "self"),
            "upload_date": format_date(utc(now)),
            "path": str(final),
            "num_chunks": num_chunks,
            "delivered_at": now,
        }
        self.state.add_file(row)
        return row

    # -- retention ------------------------------------------------------------------------------
    def _age_days(self, row: dict[str, Any], now: float) -> float:
        """Days since the file reached this sandbox: the later of its uploadDate and its delivery
        (the state's seeding for the seeded files), so fixed 2024 dates start fresh."""
        uploaded = datetime.fromisoformat(row["upload_date"]).timestamp()
        delivered = row["delivered_at"] if row["delivered_at"] is not None else self.state.seeded_at
        return (now - max(uploaded, delivered)) / DAY_SECONDS

    def content_expired(self, row: dict[str, Any], now: float, faults: VismaFaults) -> bool:
        """Visma deletes a file's content a month after delivery (or a fault says it is gone)."""
        days = self.config.retention_days
        return row["name"] in faults.expired_files or (
            days is not None and self._age_days(row, now) >= days
        )

    def metadata_expired(self, row: dict[str, Any], now: float) -> bool:
        """Visma deletes a file's metadata six months after delivery: it leaves every list."""
        days = self.config.metadata_retention_days
        return days is not None and self._age_days(row, now) >= days

    # -- content --------------------------------------------------------------------------------
    def files(self, role: str = "subscriber") -> list[dict[str, Any]]:
        return self.state.files(role)

    def file_bytes(self, file_id: str, role: str = "subscriber") -> bytes:
        """The file's true content (ground truth for tests; small files only)."""
        row = self.state.file(file_id, role)
        if row is None:
            raise KeyError(file_id)
        return Path(row["path"]).read_bytes()

    @staticmethod
    def served_size(row: dict[str, Any], corruption: str | None) -> int:
        return row["size"] // 2 if corruption == "truncated" else row["size"]

    @staticmethod
    def iter_content(
        row: dict[str, Any], corruption: str | None, start: int, end: int
    ) -> Iterator[bytes]:
        """Bytes start..end (inclusive) as served; "garbage" flips every byte of the second half."""
        half = row["size"] // 2
        with open(row["path"], "rb") as handle:
            handle.seek(start)
            position = start
            while position <= end:
                chunk = handle.read(min(READ_SIZE, end - position + 1))
                if not chunk:
                    return
                if corruption == "garbage" and position + len(chunk) > half:
                    cut = max(0, half - position)
                    chunk = chunk[:cut] + bytes(b ^ 0x5A for b in chunk[cut:])
                position += len(chunk)
                yield chunk

    # -- faults and counters --------------------------------------------------------------------
    def faults(self) -> VismaFaults:
        return self.state.faults()

    def set_faults(self, faults: VismaFaults | None = None, **fields: Any) -> None:
        """Replace the current faults: with `faults`, or with `VismaFaults(**fields)`."""
        self.state.set_faults(faults if faults is not None else VismaFaults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(VismaFaults())

    def counters(self) -> dict[str, int]:
        """api_calls, throttled (every 429), throttled_spike, throttled_concurrency,
        refused_outside_window, refused_window_quota, refused_day_quota, refused_window_days,
        calls:day:<YYYY-MM-DD>, calls:window:<YYYY-MM-DD>, window_days:<YYYY-MM>, auth_calls,
        tokens_issued, tokens:<YYYY-MM>, downloads, uploads, ..."""
        return self.state.counters()

    # -- serving --------------------------------------------------------------------------------
    def app(self) -> http.App:
        return VismaApp(self)


def serve_forever(
    config: VismaSandboxConfig, state_dir: Path, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Serve a Visma sandbox in the foreground."""
    VismaSandbox(config, state_dir).serve_forever(host, port)
