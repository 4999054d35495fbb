"""The sandbox's admin endpoints under `/_sandbox/` (no authentication: loopback test tooling),
for tests and people driving a served sandbox from outside its process:

    GET    /_sandbox/state     counters, faults, files and the clock
    POST   /_sandbox/faults    replace the faults (a `VismaFaults` as JSON)
    DELETE /_sandbox/faults    clear them
    POST   /_sandbox/deliver   {"businessType": 101100, "count": 1}: publish more files
    GET    /_sandbox/clock     {"now": "<ISO 8601 UTC>", "offset": <seconds>}
    POST   /_sandbox/clock     {"now": "<ISO 8601>"} or {"advance": <seconds>}: move the clock
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.visma.config import VismaFaults
from p2p_assets.sandbox.visma.dates import utc

if TYPE_CHECKING:
    from p2p_assets.sandbox.visma.sandbox import VismaSandbox


def _unprocessable(detail: str) -> Response:
    return Response.json({"detail": detail}, 422)


class AdminEndpoints:
    def __init__(self, sandbox: "VismaSandbox"):
        self.sandbox = sandbox

    def add_routes(self, router: Router) -> None:
        router.add("GET", "/_sandbox/state", self.state)
        router.add("POST", "/_sandbox/faults", self.set_faults)
        router.add("DELETE", "/_sandbox/faults", self.clear_faults)
        router.add("POST", "/_sandbox/deliver", self.deliver)
        router.add("GET", "/_sandbox/clock", self.clock)
        router.add("POST", "/_sandbox/clock", self.move_clock)

    def _clock(self) -> dict[str, Any]:
        now, offset = self.sandbox.state.clock.read()
        return {"now": utc(now).isoformat().replace("+00:00", "Z"), "offset": offset}

    def state(self, request: Request) -> Response:
        return Response.json({**self.sandbox.state.snapshot(), "clock": self._clock()})

    def set_faults(self, request: Request) -> Response:
        try:
            faults = VismaFaults.from_dict(request.json() or {})
        except (TypeError, ValueError) as exc:
            return _unprocessable(str(exc))
        self.sandbox.set_faults(faults)
        return Response.json(faults.to_dict())

    def clear_faults(self, request: Request) -> Response:
        self.sandbox.clear_faults()
        return Response.json(VismaFaults().to_dict())

    def deliver(self, request: Request) -> Response:
        body = request.json() or {}
        try:
            rows = self.sandbox.deliver(int(body["businessType"]), int(body.get("count", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            return _unprocessable(f"cannot deliver: {exc}")
        return Response.json([{"fileId": r["id"], "fileName": r["name"]} for r in rows])

    def clock(self, request: Request) -> Response:
        return Response.json(self._clock())

    def move_clock(self, request: Request) -> Response:
        try:
            body = request.json()
            if not isinstance(body, dict) or len(body.keys() & {"now", "advance"}) != 1:
                raise ValueError('expected {"now": "<ISO 8601>"} or {"advance": <seconds>}')
            if "now" in body:
                self.sandbox.set_now(datetime.fromisoformat(str(body["now"])))
            else:
                self.sandbox.advance(float(body["advance"]))
        except (TypeError, ValueError) as exc:
            return _unprocessable(f"cannot move the clock: {exc}")
        return Response.json(self._clock())
