"""What a simulated Boss Insights account looks like: its API user, account key and scopes, the CDM
objects it accepts writes for (at which paths, with which fields), and its webhook configuration.
Boss Insights publishes neither write paths nor event names, so both are configuration here too.
Faults live in the state dir so every process serving it injects the same ones.

What the manual leaves open, the sandbox plays in each variant a real tenant might have:
- `post_mode`: a POST of a known `external_id` updates that record (`upsert`) or creates another
  (`create`: duplicates, as a CDM without upserts would);
- `put_by_id`: `PUT {path}/{id}` updates the record by the id the CDM returned (405 when off);
- `webhook_layout`: where a push webhook carries its ids and outcome (`WEBHOOK_LAYOUTS`), with the
  outcome as a status word (`success_status`, `failure_status`) or, for an `outcome_field` whose
  last part is `success`, a boolean (`result.success` nests it);
- `destinations`: the connected applications a push goes to (one outcome each); a failed push
  fails in `failing_destination` (default: the last) and succeeds in the others.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SANDBOX_CREDENTIALS = {  # the sandbox's own, not secrets
    "username": "sandbox-api-user",
    "password": "sandbox-api-password",
    "account_key": "sandbox-account-key",
}
SANDBOX_WEBHOOK_CREDENTIALS = ("p2p-webhooks", "sandbox-webhook-password")
FAIL_STATUSES = (500, 502, 503)
FIELD_KINDS = ("text", "integer", "date", "currency", "boolean")
POST_MODES = ("upsert", "create")
WEBHOOK_LAYOUTS = {
    "nested": "data.trackingId, data.syncId and the outcome in data (the default)",
    "top_level": "trackingId, syncId and the outcome beside event and requestId",
    "headers": "X-Tracking-ID and X-Sync-ID as request headers, the outcome in data",
    "results": "data.results: [{source, status, message}], one per destination, with "
    "data.status 'completed' whatever they say",
    "per_destination": "one event per destination, each with data.source and its outcome",
}


@dataclass(frozen=True)
class CdmObject:
    name: str
    path: str
    fields: dict[str, str]
    """Field name -> kind (one of FIELD_KINDS); integers are amounts in minor units too."""
    required: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)
    """Field -> the object whose `external_id` it must name (that record must exist)."""


VENDOR = CdmObject(
    "vendor",
    "/api/vendors",
    {"external_id": "text", "code": "text", "name": "text", "tax_number": "text",
     "country": "text", "city": "text", "postal_code": "text", "currency": "currency",
     "payment_terms_days": "integer", "active": "boolean"},
    required=("external_id", "name"),
)  # fmt: skip
PAYABLE_INVOICE = CdmObject(
    "payable_invoice",
    "/api/payable-invoices",
    {"external_id": "text", "vendor_external_id": "text", "number": "text",
     "issue_date": "date", "due_date": "date", "currency": "currency", "subtotal": "integer",
     "tax": "integer", "total": "integer", "status": "text", "paid_date": "date"},
    required=("external_id", "vendor_external_id", "number", "total", "currency"),
    references={"vendor_external_id": "vendor"},
)  # fmt: skip


@dataclass(frozen=True)
class BossInsightsConfig:
    username: str = SANDBOX_CREDENTIALS["username"]
    password: str = SANDBOX_CREDENTIALS["password"]
    account_key: str = SANDBOX_CREDENTIALS["account_key"]
    scopes: tuple[str, ...] = ("api.read", "api.write")
    domain: str = "sandbox.myintranetapps.com"
    objects: tuple[CdmObject, ...] = (VENDOR, PAYABLE_INVOICE)
    connected_apps: tuple[str, ...] = ("quickbooks", "accounting")
    """What `X-Sync-Sources` may name: the connected applications and their types."""
    webhook_url: str | None = None
    webhook_username: str = SANDBOX_WEBHOOK_CREDENTIALS[0]
    webhook_password: str = SANDBOX_WEBHOOK_CREDENTIALS[1]
    webhook_event: str = "api_push_update"
    webhook_retries: int = 3
    push_delay_seconds: float = 0.05
    retry_delay_seconds: float = 0.05
    post_mode: str = "upsert"
    put_by_id: bool = True
    webhook_layout: str = "nested"
    outcome_field: str = "status"
    success_status: str = "success"
    failure_status: str = "failed"
    destinations: tuple[str, ...] = ("quickbooks",)
    failing_destination: str | None = None

    def __post_init__(self) -> None:
        if self.post_mode not in POST_MODES:
            raise ValueError(f"post_mode must be one of {POST_MODES}, not {self.post_mode!r}")
        if self.webhook_layout not in WEBHOOK_LAYOUTS:
            raise ValueError(
                f"webhook_layout must be one of {tuple(WEBHOOK_LAYOUTS)}, not "
                f"{self.webhook_layout!r}"
            )
        if not self.destinations or not all(self.destinations):
            raise ValueError("destinations must name at least one connected application")
        if not self.outcome_field or "" in self.outcome_field.split("."):
            raise ValueError(f"outcome_field {self.outcome_field!r} is not a dotted path")

    def object_at(self, path: str) -> CdmObject | None:
        return next((o for o in self.objects if o.path == path), None)

    def object(self, name: str) -> CdmObject:
        return next(o for o in self.objects if o.name == name)


@dataclass(frozen=True)
class FailRule:
    status: int
    count: int = 1

    def __post_init__(self) -> None:
        if self.status not in FAIL_STATUSES:
            raise ValueError(f"fail_next status must be one of {FAIL_STATUSES}")

    def matches(self, path: str) -> bool:
        return True


@dataclass(frozen=True)
class RejectRule:
    """Refuse the next `count` writes with a validation error on `field`."""

    field: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class BossInsightsFaults:
    """- `fail_next`: answer the next writes with a 5xx (nothing written).
    - `drop_after_write`: write the next n records, then cut the connection unanswered.
    - `reject_next`: refuse the next writes as invalid, naming a field.
    - `failed_pushes`: the next n pushes fail in the connected application (the webhook says so).
    """

    fail_next: tuple[FailRule, ...] = ()
    drop_after_write: int = 0
    reject_next: tuple[RejectRule, ...] = ()
    failed_pushes: int = 0

    def __post_init__(self) -> None:
        rules = tuple(r if isinstance(r, FailRule) else FailRule(**r) for r in self.fail_next)
        object.__setattr__(self, "fail_next", rules)
        rejects = tuple(r if isinstance(r, RejectRule) else RejectRule(**r)
                        for r in self.reject_next)  # fmt: skip
        object.__setattr__(self, "reject_next", rejects)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BossInsightsFaults":
        return cls(**data)
