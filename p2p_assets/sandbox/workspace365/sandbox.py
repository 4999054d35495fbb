"""`Workspace365Sandbox`: a simulated Workspace 365 tenant's Business App API over a state dir.

    POST /{environment}/BusinessAppApi/{business app name}   create a record -> {"id": n}

Authentication, the API switch per environment, installed and enabled apps, and validation answer
as the manual documents (401, 403, 404, 400 with `globalError`/`fieldErrors`, Dutch messages for
`Accept-Language: nl`); a disabled app answers 403 with the manual's `globalError`, "Business App
isn't enabled". Created records are kept in SQLite, shared by every process serving the dir, and
stored as they arrived (a date and time without a zone stays without one: the server's zone is
assumed, as the manual says).

The admin endpoints under `/_sandbox/` (no authentication: loopback test tooling) flip what an
administrator flips in the tenant:

    GET    /_sandbox/state                       counters (requests, created, rejected,
                                                 max_in_flight, ...), faults, switches, records
    POST   /_sandbox/faults                      replace the faults (a `Workspace365Faults`)
    DELETE /_sandbox/faults                      clear them
    POST   /_sandbox/apps/{app}                  {"enabled": false} / {"installed": false}
    POST   /_sandbox/environments/{environment}  {"api_enabled": false}
"""

import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from p2p_assets.sandbox import http
from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.workspace365.config import Workspace365Faults, Workspace365SandboxConfig
from p2p_assets.sandbox.workspace365.fields import dumps_exact
from p2p_assets.sandbox.workspace365.state import Workspace365State
from p2p_assets.sandbox.workspace365.validation import MESSAGES, language, validate


class Workspace365Sandbox(http.ServedSandbox):
    def __init__(self, config: Workspace365SandboxConfig, state_dir: Path | str):
        self.config = config
        self.state = Workspace365State(Path(state_dir))
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    def app(self) -> http.App:
        router = Router()
        router.add("GET", "/_sandbox/state", self.admin_state)
        router.add("POST", "/_sandbox/faults", self.admin_set_faults)
        router.add("DELETE", "/_sandbox/faults", self.admin_clear_faults)
        router.add("POST", "/_sandbox/apps/{app}", self.admin_switch_app)
        router.add("POST", "/_sandbox/environments/{environment}", self.admin_switch_api)
        router.add("POST", "/{environment}/BusinessAppApi/{app}", self.create_record)
        return router

    def create_record(self, request: Request) -> Response:
        with self._in_flight_lock:
            self._in_flight += 1
            in_flight = self._in_flight
        try:
            return self._create_record(request, in_flight)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _create_record(self, request: Request, in_flight: int) -> Response:
        """`in_flight`: record requests this process is answering now, this one included."""
        environment = unquote(request.path_params["environment"])
        app_name = unquote(request.path_params["app"])
        switches = self.state.admit(self.config, environment, app_name, in_flight)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.config.environments.get(environment)
        if scheme != "Workspace365" or expected is None or token.strip() != expected:
            self.state.bump("unauthorized")
            return Response(status=401)
        if not switches["api_enabled"]:
            return Response(status=403)
        app = self.config.app(app_name)
        if app is None or not switches["installed"]:
            return Response(status=404)
        lang = language(request.headers.get("accept-language"))
        if not switches["enabled"]:
            self.state.bump("refused_disabled")
            return _errors(403, MESSAGES[lang]["disabled"], None)
        if switches["faults"].delay_seconds > 0:
            time.sleep(switches["faults"].delay_seconds)
        failure = self.state.take_failure(request.path)
        if failure is not None:
            return Response.json({"message": "An error has occurred."}, failure.status)
        try:
            record = json.loads(request.body or b"null", parse_float=Decimal)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return _errors(400, MESSAGES[lang]["body"], None)
        field_errors = validate(app, record, lang, self.config.currencies)
        if field_errors:
            self.state.bump("rejected")
            return _errors(400, None, field_errors)
        known = {f.name for f in app.fields}  # extra properties are ignored, not stored
        stored = {k: v for k, v in record.items() if k in known}
        record_id = self.state.create(environment, app_name, dumps_exact(stored))
        response = Response.json({"id": record_id})
        if self.state.take_drop():
            response.drop_after = 0  # created, but the answer never arrives
        return response

    # -- admin endpoints ---------------------------------------------------------------------------
    def admin_state(self, request: Request) -> Response:
        return Response.json(
            {
                "counters": self.counters(),
                "faults": self.state.faults().to_dict(),
                **self.state.switches(),
                "records": len(self.records()),
            }
        )

    def admin_set_faults(self, request: Request) -> Response:
        try:
            faults = Workspace365Faults.from_dict(request.json() or {})
        except (TypeError, ValueError) as exc:
            return Response.json({"detail": str(exc)}, 422)
        self.set_faults(faults)
        return Response.json(faults.to_dict())

    def admin_clear_faults(self, request: Request) -> Response:
        self.clear_faults()
        return Response.json(Workspace365Faults().to_dict())

    def admin_switch_app(self, request: Request) -> Response:
        body = _switches(request, ("enabled", "installed"))
        if isinstance(body, Response):
            return body
        self.set_app(unquote(request.path_params["app"]), **body)
        return Response.json(self.state.switches())

    def admin_switch_api(self, request: Request) -> Response:
        body = _switches(request, ("api_enabled",))
        if isinstance(body, Response):
            return body
        if "api_enabled" in body:
            self.state.set_api(unquote(request.path_params["environment"]), body["api_enabled"])
        return Response.json(self.state.switches())

    # -- the Python API tests use -----------------------------------------------------------------
    def records(self, environment: str | None = None, app: str | None = None) -> list[dict]:
        return self.state.records(environment, app)

    def counters(self) -> dict[str, int]:
        return self.state.counters()

    def set_app(self, app: str, *, enabled: bool | None = None, installed: bool | None = None):
        """Disable or enable (uninstall or install) a Business App, as an administrator does."""
        self.state.set_app(app, enabled=enabled, installed=installed)

    def set_faults(self, faults: Workspace365Faults | None = None, **fields: Any) -> None:
        self.state.set_faults(faults if faults is not None else Workspace365Faults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(Workspace365Faults())


def _switches(request: Request, names: tuple[str, ...]) -> dict[str, bool] | Response:
    try:
        body = request.json()
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not body
        or not set(body) <= set(names)
        or not all(isinstance(v, bool) for v in body.values())
    ):
        return Response.json({"detail": f"expected a JSON object of booleans among {names}"}, 422)
    return body


def _errors(status: int, global_error: str | None, field_errors: dict[str, str] | None):
    return Response.json(
        {
            "globalError": {"message": global_error} if global_error else None,
            "fieldErrors": {k: {"message": v} for k, v in field_errors.items()}
            if field_errors
            else None,
        },
        status,
    )
