"""`Workspace365Sandbox`: a simulated Workspace 365 tenant's Business App API over a state dir.

    POST /{environment}/BusinessAppApi/{business app name}   create a record -> {"id": n}

Authentication, the API switch per environment, installed and enabled apps, and validation answer
as the manual documents (401, 403, 404, 400 with `globalError`/`fieldErrors`, Dutch messages for
`Accept-Language: nl`). Created records are kept in SQLite, shared by every process serving the dir.
"""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from p2p_assets.sandbox import http
from p2p_assets.sandbox.http import Request, Response, Router
from p2p_assets.sandbox.state import SqliteState
from p2p_assets.sandbox.workspace365.config import (
    FailRule,
    Workspace365Faults,
    Workspace365SandboxConfig,
)
from p2p_assets.sandbox.workspace365.fields import dumps_exact
from p2p_assets.sandbox.workspace365.validation import MESSAGES, language, validate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL, app TEXT NOT NULL,
    body TEXT NOT NULL
)
"""


class Workspace365State(SqliteState[Workspace365Faults, FailRule]):
    faults_type = Workspace365Faults
    fail_rule_type = FailRule

    def __init__(self, state_dir: Path):
        super().__init__(state_dir)
        self._create(_SCHEMA)
        with self._transaction() as db:
            # Workspace 365 ids are 32-bit integers that do not start at 1.
            db.execute("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('records', 1000)")

    def create(self, environment: str, app: str, body: str) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO records (environment, app, body) VALUES (?, ?, ?)",
                (environment, app, body),
            )
            record_id = cursor.lastrowid
            self._bump(db, "created")
        assert record_id is not None
        return record_id

    def take_drop(self) -> bool:
        """Consume one `drop_after_create` if any is left."""
        with self._transaction() as db:
            data = json.loads(self._meta(db, "faults"))
            left = int(data.get("drop_after_create") or 0)
            if left <= 0:
                return False
            data["drop_after_create"] = left - 1
            self._set_meta(db, "faults", json.dumps(data))
            return True

    def records(self, environment: str | None = None, app: str | None = None) -> list[dict]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, environment, app, body FROM records WHERE "
                "(? IS NULL OR environment = ?) AND (? IS NULL OR app = ?) ORDER BY id",
                (environment, environment, app, app),
            ).fetchall()
        return [
            {"id": r[0], "environment": r[1], "app": r[2],
             "record": json.loads(r[3], parse_float=Decimal)}
            for r in rows
        ]  # fmt: skip


class Workspace365Sandbox(http.ServedSandbox):
    def __init__(self, config: Workspace365SandboxConfig, state_dir: Path | str):
        self.config = config
        self.state = Workspace365State(Path(state_dir))

    def app(self) -> http.App:
        router = Router()
        router.add("POST", "/{environment}/BusinessAppApi/{app}", self.create_record)
        return router

    def create_record(self, request: Request) -> Response:
        environment = unquote(request.path_params["environment"])
        app_name = unquote(request.path_params["app"])
        self.state.bump("requests")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.config.environments.get(environment)
        if scheme != "Workspace365" or expected is None or token.strip() != expected:
            self.state.bump("unauthorized")
            return Response(status=401)
        if environment in self.config.api_disabled:
            return Response(status=403)
        app = self.config.app(app_name)
        if app is None or not app.installed:
            return Response(status=404)
        lang = language(request.headers.get("accept-language"))
        if not app.enabled:
            return _errors(403, MESSAGES[lang]["disabled"], None)
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

    # -- the Python API tests use -----------------------------------------------------------------
    def records(self, environment: str | None = None, app: str | None = None) -> list[dict]:
        return self.state.records(environment, app)

    def counters(self) -> dict[str, int]:
        return self.state.counters()

    def set_faults(self, faults: Workspace365Faults | None = None, **fields: Any) -> None:
        self.state.set_faults(faults if faults is not None else Workspace365Faults(**fields))

    def clear_faults(self) -> None:
        self.state.set_faults(Workspace365Faults())


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
