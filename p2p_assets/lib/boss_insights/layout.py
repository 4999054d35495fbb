"""Where a Boss Insights webhook carries its ids and its outcome: configuration, not code.

Boss Insights publishes only `event`, `requestId`, `domain`, `message` and `data`; where the
tracking id, the sync id and the push's outcome sit is unpublished. A `WebhookLayout` names them as
paths: `data.trackingId` (dotted keys into the JSON body, a number for a list index) or
`header:X-Tracking-ID` (a request header, when the receiver stored them). A setting may list
several paths, comma separated; for ids the first one present wins.

Only an explicit success confirms. Each outcome value is compared, case-insensitively, with the
configured success, failure and pending values (JSON `true`/`false` as `true`/`false`); anything
else, a missing outcome included, is `unknown`. A push to several connected applications has one
outcome per destination: either a list in the event (`results_path`, each item with its own
destination, outcome and message) or one event per destination (`destination_path`).

`parse` never raises: what it cannot read it reports as problems, kept with the event.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SUCCESS, FAILED, UNKNOWN, PENDING = "success", "failed", "unknown", "pending"
HEADER = "header:"


def paths(setting: str | Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated setting as its paths (unset or blank: `default`)."""
    if setting is None:
        return default
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    found = tuple(p.strip() for p in items if p.strip())
    return found or default


def values(setting: str | Sequence[str] | None, default: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.lower() for v in paths(setting, default))


@dataclass(frozen=True)
class WebhookLayout:
    # Our own ids, wherever they are echoed: found at the top level or in a header they can only
    # name our record. The outcome is not guessed: without one at its paths, it is unknown.
    tracking_id: tuple[str, ...] = ("data.trackingId", "data.tracking_id", "trackingId",
                                    "tracking_id", "header:x-tracking-id")  # fmt: skip
    sync_id: tuple[str, ...] = ("data.syncId", "data.sync_id", "syncId", "sync_id",
                                "header:x-sync-id")  # fmt: skip
    outcome: tuple[str, ...] = ("data.status", "data.success")
    message: tuple[str, ...] = ("data.message", "message")
    destination: tuple[str, ...] = ("data.source", "data.destination")
    obj: tuple[str, ...] = ("data.object",)
    results: tuple[str, ...] = ("data.results",)
    result_outcome: tuple[str, ...] = ("status", "success")
    result_destination: tuple[str, ...] = ("source", "destination")
    result_message: tuple[str, ...] = ("message", "error")
    success_values: frozenset[str] = frozenset({"success", "succeeded", "completed", "true"})
    failure_values: frozenset[str] = frozenset(
        {"failed", "failure", "error", "errored", "rejected", "false"}
    )
    pending_values: frozenset[str] = frozenset({"pending", "queued", "processing", "in_progress"})
    destinations: tuple[str, ...] = ()
    """When set: a record is confirmed only once each of these destinations reported success."""

    def __post_init__(self) -> None:
        overlap = (self.success_values & self.failure_values) | (
            (self.success_values | self.failure_values) & self.pending_values
        )
        if overlap:
            raise ValueError(
                f"Boss Insights webhook outcome values {sorted(overlap)} are configured as more "
                "than one of success, failure and pending"
            )

    def fingerprint(self) -> str:
        """Changes whenever the layout does: stored events are then read again with it."""
        data = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DestinationOutcome:
    destination: str  # "" when the event names none
    outcome: str  # SUCCESS, FAILED, UNKNOWN or PENDING
    value: str | None  # what the vendor said, as text
    message: str | None


@dataclass
class ParsedEvent:
    tracking_id: str | None = None
    sync_id: str | None = None
    obj: str | None = None
    message: str | None = None
    outcomes: list[DestinationOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str | None:
        """The event's own verdict over its destinations (None when it names no record)."""
        if self.tracking_id is None and self.sync_id is None:
            return None
        kinds = {o.outcome for o in self.outcomes}
        for kind in (FAILED, UNKNOWN, PENDING):
            if kind in kinds:
                return kind
        return SUCCESS if kinds else UNKNOWN


MISSING = object()
"""What `lookup` answers for a path that is not there."""


def lookup(body: Any, headers: Mapping[str, str] | None, path: str) -> Any:
    """The value at `path` in the body (or a request header), or `MISSING`."""
    if path.lower().startswith(HEADER):
        name = path[len(HEADER) :].strip().lower()
        return (headers or {}).get(name, MISSING)
    value = body
    for key in path.split("."):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


class _Reader:
    def __init__(self, body: Any, headers: Mapping[str, str] | None, problems: list[str]):
        self.body, self.headers, self.problems = body, headers, problems

    def first(self, candidates: Sequence[str], what: str, *, within: Any = None) -> str | None:
        """The first present value at `candidates`, as text; a value of the wrong type is a
        problem and is passed over."""
        for path in candidates:
            value = lookup(self.body if within is None else within, self.headers, path)
            if value is MISSING or value is None or value == "":
                continue
            text = None if isinstance(value, bool) else _text(value)
            if text is None:
                self.problems.append(f"{what} at {path} is {type(value).__name__}, not text")
                continue
            return text
        return None


def _classify(layout: WebhookLayout, value: str) -> str:
    lowered = value.strip().lower()
    if lowered in layout.success_values:
        return SUCCESS
    if lowered in layout.failure_values:
        return FAILED
    if lowered in layout.pending_values:
        return PENDING
    return UNKNOWN


def _outcome(
    layout: WebhookLayout, reader: _Reader, candidates: Sequence[str], within: Any = None
) -> tuple[str | None, str | None, list[str]]:
    """(verdict, the values as the vendor gave them, why unknown) over every present path; the
    most cautious verdict wins (failed, then unknown, then pending, then success)."""
    found: list[tuple[str, str]] = []
    why = []
    for path in candidates:
        value = lookup(reader.body if within is None else within, reader.headers, path)
        if value is MISSING or value is None:
            continue
        text = _text(value)
        if text is None:
            why.append(f"outcome at {path} is {type(value).__name__}, not a value")
            found.append((UNKNOWN, json.dumps(value, default=str)[:200]))
            continue
        kind = _classify(layout, text)
        if kind == UNKNOWN:
            why.append(f"outcome {text!r} at {path} is not a configured success or failure value")
        found.append((kind, text))
    if not found:
        return None, None, [f"no outcome at {' or '.join(candidates)}"]
    kinds = {k for k, _ in found}
    verdict = next(k for k in (FAILED, UNKNOWN, PENDING, SUCCESS) if k in kinds)
    return verdict, ", ".join(v for _, v in found), why


def parse(body: Any, headers: Mapping[str, str] | None, layout: WebhookLayout) -> ParsedEvent:
    """What one stored event says, read at the layout's paths."""
    parsed = ParsedEvent()
    if not isinstance(body, Mapping):
        parsed.problems.append(f"the body is {type(body).__name__}, not a JSON object")
        return parsed
    reader = _Reader(body, headers, parsed.problems)
    parsed.tracking_id = reader.first(layout.tracking_id, "tracking id")
    parsed.sync_id = reader.first(layout.sync_id, "sync id")
    parsed.obj = reader.first(layout.obj, "object")
    parsed.message = reader.first(layout.message, "message")
    if parsed.tracking_id is None and parsed.sync_id is None:
        parsed.problems.append(
            f"no tracking id (at {', '.join(layout.tracking_id)}) or sync id "
            f"(at {', '.join(layout.sync_id)}): it settles no record"
        )
        return parsed
    results = MISSING
    results_path = None
    for path in layout.results:
        results = lookup(body, headers, path)
        if results is not MISSING and results is not None:
            results_path = path
            break
    verdict, value, why = _outcome(layout, reader, layout.outcome)
    destination = reader.first(layout.destination, "destination") or ""
    if results_path is None:
        parsed.problems.extend(why)
        parsed.outcomes.append(
            DestinationOutcome(destination, verdict or UNKNOWN, value, parsed.message)
        )
        return parsed
    if not isinstance(results, list):
        parsed.problems.append(f"{results_path} is {type(results).__name__}, not a list")
        parsed.outcomes.append(DestinationOutcome(destination, UNKNOWN, None, parsed.message))
        return parsed
    if not results:
        parsed.problems.append(f"{results_path} is an empty list")
        parsed.outcomes.append(DestinationOutcome(destination, UNKNOWN, None, parsed.message))
    # With a per-destination list, the event's own outcome only ever holds a record back: a job
    # "completed" says nothing of each destination, a "failed" or an unknown value does.
    if verdict is not None and verdict != SUCCESS:
        parsed.problems.extend(why)
        parsed.outcomes.append(DestinationOutcome(destination, verdict, value, parsed.message))
    for index, item in enumerate(results):
        where = f"{results_path}.{index}"
        if not isinstance(item, Mapping):
            parsed.problems.append(f"{where} is {type(item).__name__}, not an object")
            parsed.outcomes.append(DestinationOutcome(f"#{index}", UNKNOWN, None, None))
            continue
        name = reader.first(layout.result_destination, "destination", within=item)
        message = reader.first(layout.result_message, "message", within=item)
        kind, text, item_why = _outcome(layout, reader, layout.result_outcome, within=item)
        parsed.problems.extend(f"{where}: {w}" for w in item_why)
        parsed.outcomes.append(
            DestinationOutcome(name or f"#{index}", kind or UNKNOWN, text, message)
        )
    return parsed
