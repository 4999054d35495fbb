"""What a Visma Youforce File API sandbox app looks like (`VismaSandboxConfig`), its usage plan
(`Plan`) and the faults it is currently injecting (`VismaFaults`).

The config is fixed for the life of a state dir (file ids and contents follow its seed); the faults
live in the state dir so every process serving it sees them.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from p2p_assets.sandbox.basware.config import BaswareSandboxConfig
from p2p_assets.sandbox.visma.window import parse_window

PlanName = Literal["weekly", "daily", "continuous"]
CORRUPTIONS = ("truncated", "garbage")
FAIL_STATUSES = (429, 499, 500, 502, 503)

BUSINESS_TYPE_NAMES = {
    7100: "File API Sandbox Uploads",
    7101: "File API Sandbox Downloads",
    113003: "Journaalposten Export",
    134000: "RBM Business Downloads",
    134001: "RBM Business Payment Files",
    101002: "RST Functie",
    101100: "Bint Harmony Files",
}


@dataclass(frozen=True)
class Plan:
    """A subscription's usage policy, as the manual's usage table gives it.

    The weekly and daily plans admit API calls only inside a 2-hour window a day
    (`calls_per_window` of them, on at most `window_days_per_month` days); the continuous plan
    has no window and `calls_per_day` per UTC day. None: no such cap.
    """

    name: PlanName
    auth_calls_per_month: int
    concurrency: int
    calls_per_window: int | None = None
    window_days_per_month: int | None = None
    calls_per_day: int | None = None
    spike_arrest_per_minute: int = 100

    @property
    def windowed(self) -> bool:
        return self.calls_per_window is not None


PLANS = {
    "weekly": Plan("weekly", 7, 1, calls_per_window=1000, window_days_per_month=7),
    "daily": Plan("daily", 40, 1, calls_per_window=1000, window_days_per_month=40),
    "continuous": Plan("continuous", 400, 3, calls_per_day=6000),
}


@dataclass(frozen=True)
class VismaSandboxConfig:
    """One simulated File API client application, authorised for one tenant.

    `files_per_type` sizes the initial deliveries per subscribed business type;
    `large_file_bytes` adds one big 7101 file (written by streaming) for chunked downloads.
    `spike_interval_seconds` is the spike arrest's smoothing interval (100 calls a minute = 0.6 s);
    tests set it to 0 unless they test the arrest itself.

    Usage limits (`limits.py`), on the sandbox clock: `window` is the weekly and daily plans' call
    window (`window.py` grammar; None: `06:00-08:00` UTC; the continuous plan has none);
    `calls_per_window` / `calls_per_day` override the plan's caps (None: the plan's) so tests can
    reach them quickly; `enforce_limits=False` lifts the window and the per-window, per-day and
    window-days caps (the spike arrest and the concurrency limit keep their own switches).

    `retention_days`: a file's content is deleted that many days after it was delivered (Visma:
    one month), counted from the later of its uploadDate and the moment the sandbox state was
    seeded (or the file delivered by `deliver()`), so the fixed 2024 upload dates stay
    downloadable on a fresh sandbox; its metadata stays listed `metadata_retention_days` (Visma:
    six months). None: never deleted.

    `basware`: the Basware sandbox tenant the SEPA files and payroll journals belong with
    (`payments.py`); None: the default tenant with this seed.

    `single_tenant`: a legacy token (no tenant in it) used without `x-raet-tenant-id` is served
    for `tenant_id`, as the guide allows for a single-tenant app; False answers 401.
    """

    seed: int = 7
    tenant_id: str = "sandbox"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    plan: PlanName = "continuous"
    files_per_type: dict[int, int] = field(
        default_factory=lambda: {7101: 3, 113003: 3, 134000: 2, 134001: 3, 101002: 2, 101100: 4}
    )
    publishes: tuple[int, ...] = (7100,)
    large_file_bytes: int | None = None
    journal_lines: int = 40
    payments_per_file: int = 5
    token_lifetime_seconds: int = 7200
    spike_interval_seconds: float = 0.6
    max_multipart_bytes: int = 100 * 1024 * 1024
    max_chunk_bytes: int = 9 * 1024 * 1024
    upload_token_lifetime_seconds: int = 3600
    start: datetime = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    window: str | None = None
    enforce_limits: bool = True
    calls_per_window: int | None = None
    calls_per_day: int | None = None
    # The longest month and the longest six months: the sandbox is never stricter than Visma.
    retention_days: int | None = 31
    metadata_retention_days: int | None = 184
    single_tenant: bool = True
    basware: BaswareSandboxConfig | None = None

    def __post_init__(self) -> None:
        if self.plan not in PLANS:
            raise ValueError(f"unknown plan {self.plan!r}; one of {sorted(PLANS)}")
        if self.window is not None:
            parse_window(self.window)
        unknown = set(self.files_per_type) - set(BUSINESS_TYPE_NAMES)
        if unknown:
            raise ValueError(f"no generator for business types {sorted(unknown)}")

    @property
    def linked_basware(self) -> BaswareSandboxConfig:
        """The Basware sandbox tenant whose invoices the payment files pay and whose cost
        centres the journals book on: `basware`, or by default one with the same seed."""
        return self.basware or BaswareSandboxConfig(seed=self.seed)

    @property
    def usage(self) -> Plan:
        return PLANS[self.plan]

    @property
    def subscriptions(self) -> tuple[int, ...]:
        return tuple(sorted(self.files_per_type))


@dataclass(frozen=True)
class FailRule:
    """Answer the next `count` API requests under `path_prefix` (None: every `/v1.0` request)
    with `status` before normal handling; `retry_after` adds a `Retry-After` header (Visma's spike
    arrest sends none; a gateway in front of it may)."""

    status: int
    count: int = 1
    path_prefix: str | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.status not in FAIL_STATUSES:
            raise ValueError(f"fail_next status must be one of {FAIL_STATUSES}")

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix or "/v1.0/")


@dataclass(frozen=True)
class VismaFaults:
    """Faults to inject, persisted in the state dir.

    - `token_lifetime_seconds`: overrides the lifetime of tokens issued from now on.
    - `fail_next`: rules consumed in order, one request at a time.
    - `drop_next_downloads` / `drop_after_bytes`: cut the connection after that many body bytes
      (None: half the body) on the next n file downloads.
    - `corrupt_files`: file name -> "truncated" | "garbage", until cleared.
    - `expired_files`: file names whose content is gone now, as after the retention period (the
      file stays listed; downloads answer 404), until cleared.
    """

    token_lifetime_seconds: int | None = None
    fail_next: tuple[FailRule, ...] = ()
    drop_next_downloads: int = 0
    drop_after_bytes: int | None = None
    corrupt_files: dict[str, str] = field(default_factory=dict)
    expired_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rules = tuple(r if isinstance(r, FailRule) else FailRule(**r) for r in self.fail_next)
        object.__setattr__(self, "fail_next", rules)
        if isinstance(self.expired_files, str):
            raise ValueError("expired_files is a list of file names")
        object.__setattr__(self, "expired_files", tuple(self.expired_files))
        for name, kind in self.corrupt_files.items():
            if kind not in CORRUPTIONS:
                raise ValueError(f"corrupt_files[{name!r}] must be one of {CORRUPTIONS}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VismaFaults":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)
