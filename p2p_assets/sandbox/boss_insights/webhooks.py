"""The webhooks a finished push sends, in the configured layout (`config.WEBHOOK_LAYOUTS`).

Every event has the manual's common elements (`event`, `requestId`, `domain`, `message`, `data`).
A push to several connected applications reports one outcome per destination: in one event
(`results`), or in one event each (`per_destination`, each with its own `requestId`, derived from
the push's so that a redelivery repeats it). The sandbox's own rules: nothing here comes from the
client, so the two can disagree, as a real tenant and our configuration can.
"""

import uuid
from typing import Any

from p2p_assets.sandbox.boss_insights.config import BossInsightsConfig

Event = tuple[dict[str, Any], dict[str, str]]
"""A webhook body and the extra request headers it is delivered with."""


def _outcome(config: BossInsightsConfig, ok: bool) -> Any:
    if config.outcome_field.split(".")[-1] == "success":
        return ok
    return config.success_status if ok else config.failure_status


def _place(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def _message(push: dict[str, Any], destinations: list[str], failed: list[str]) -> str:
    what = f"API push update of {push['object']} {push['external_id']} to {', '.join(destinations)}"
    if failed:
        return f"{what} failed in {', '.join(failed)}: the application refused the record"
    return f"{what} completed"


def events(
    config: BossInsightsConfig, push: dict[str, Any], outcomes: dict[str, bool]
) -> list[Event]:
    """The webhooks of one finished push (`outcomes`: destination -> succeeded there)."""
    destinations = list(outcomes)
    failed = [d for d, ok in outcomes.items() if not ok]
    refused = "the application refused the record"
    common = {
        "event": config.webhook_event,
        "requestId": push["request_id"],
        "domain": config.domain,
        "message": _message(push, destinations, failed),
    }
    ids = {"syncId": push["sync_id"], "trackingId": push["tracking_id"]}
    about = {"object": push["object"], "id": push["record_id"] or push["external_id"]}
    layout = config.webhook_layout
    if layout == "per_destination":
        out = []
        for destination, ok in outcomes.items():
            data = {**ids, **about, "source": destination}
            _place(data, config.outcome_field, _outcome(config, ok))
            if not ok:
                data["message"] = refused
            request_id = str(uuid.uuid5(uuid.UUID(push["request_id"]), destination))
            message = _message(push, [destination], [] if ok else [destination])
            out.append(({**common, "requestId": request_id, "message": message, "data": data}, {}))
        return out
    if layout == "results":
        results = [
            {"source": d, "status": config.success_status if ok else config.failure_status,
             **({} if ok else {"message": refused})}
            for d, ok in outcomes.items()
        ]  # fmt: skip
        # The job itself "completed" whatever each destination said.
        return [
            ({**common, "data": {**ids, **about, "status": "completed", "results": results}}, {})
        ]
    ok = not failed
    if layout == "top_level":
        body: dict[str, Any] = {**common, **ids, "data": dict(about)}
        _place(body, config.outcome_field, _outcome(config, ok))
        return [(body, {})]
    data = dict(about) if layout == "headers" else {**ids, **about}
    _place(data, config.outcome_field, _outcome(config, ok))
    headers = (
        {"X-Tracking-ID": push["tracking_id"] or "", "X-Sync-ID": push["sync_id"]}
        if layout == "headers"
        else {}
    )
    return [({**common, "data": data}, headers)]
