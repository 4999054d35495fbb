"""What a simulated Workspace 365 tenant looks like: environments with their API tokens, and the
Business Apps installed in them with their fields (as Business App Builder would configure them).
Faults live in the state dir so every process serving it injects the same ones."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SANDBOX_TOKEN = "c67d8168-2efb-4737-95d7-b05ef335d098"  # the manual's example token: not a secret
FAIL_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class AppField:
    name: str
    type: str  # a p2p_assets.sandbox.workspace365.fields.FieldType value
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class BusinessApp:
    name: str
    fields: tuple[AppField, ...]
    installed: bool = True
    enabled: bool = True


INVOICE_EXCEPTIONS = BusinessApp(
    "Invoice exceptions",
    (
        AppField("Basware invoice id", "single_line_text", required=True),
        AppField("Invoice number", "single_line_text", required=True),
        AppField("Supplier", "single_line_text", required=True),
        AppField("Amount", "currency", required=True),
        AppField("Due date", "date"),
        AppField("Days overdue", "integer"),
        AppField("Detected at", "date_time"),
        AppField("Status", "dropdown", required=True,
                 options=("New", "In progress", "Waiting for supplier", "Resolved")),
        AppField("Reasons", "checkbox_list",
                 options=("Overdue", "Disputed", "Payment blocked", "Not matched to a PO")),
        AppField("Notes", "rich_text"),
        AppField("Handler", "user"),
        AppField("Case number", "autonumber"),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Workspace365SandboxConfig:
    environments: dict[str, str] = field(default_factory=lambda: {"p2p": SANDBOX_TOKEN})
    api_disabled: frozenset[str] = frozenset()
    apps: tuple[BusinessApp, ...] = (INVOICE_EXCEPTIONS,)
    currencies: frozenset[str] = frozenset(
        "EUR USD GBP SEK NOK DKK CHF PLN CZK HUF RON BGN JPY CNY AUD CAD NZD SGD HKD ZAR".split()
    )
    """The currencies this tenant supports (the manual: a list of Workspace 365's own)."""

    def app(self, name: str) -> BusinessApp | None:
        return next((a for a in self.apps if a.name == name), None)


@dataclass(frozen=True)
class FailRule:
    status: int
    count: int = 1

    def __post_init__(self) -> None:
        if self.status not in FAIL_STATUSES:
            raise ValueError(f"fail_next status must be one of {FAIL_STATUSES}")

    def matches(self, path: str) -> bool:
        return "/BusinessAppApi/" in path


@dataclass(frozen=True)
class Workspace365Faults:
    """- `fail_next`: answer the next record requests with a 5xx (nothing created).
    - `drop_after_create`: create the next n records, then cut the connection unanswered.
    - `delay_seconds`: every record request takes this long (a remote tenant's latency)."""

    fail_next: tuple[FailRule, ...] = ()
    drop_after_create: int = 0
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        rules = tuple(r if isinstance(r, FailRule) else FailRule(**r) for r in self.fail_next)
        object.__setattr__(self, "fail_next", rules)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Workspace365Faults":
        return cls(**data)
