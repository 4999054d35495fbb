"""What a served Workspace 365 sandbox keeps in its state dir, shared by every process serving it:
the created records, counters, faults, and the switches an administrator flips in the tenant
(the Business App API per environment, each Business App installed and enabled)."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from p2p_assets.sandbox.state import SqliteState
from p2p_assets.sandbox.workspace365.config import (
    FailRule,
    Workspace365Faults,
    Workspace365SandboxConfig,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL, app TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS app_switches (
    app TEXT PRIMARY KEY, installed INTEGER, enabled INTEGER
);
CREATE TABLE IF NOT EXISTS api_switches (environment TEXT PRIMARY KEY, enabled INTEGER NOT NULL)
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

    # -- the tenant's switches, over the configuration's defaults ---------------------------------
    def admit(
        self, config: Workspace365SandboxConfig, environment: str, app: str, in_flight: int
    ) -> dict:
        """Count the request (and the most answered at once, `in_flight` now) and read the
        switches and faults it meets, in one transaction: {"api_enabled", "installed",
        "enabled", "faults"} (an unknown app is neither installed nor enabled)."""
        with self._transaction() as db:
            self._bump(db, "requests")
            db.execute(
                "INSERT INTO counters VALUES ('max_in_flight', ?) "
                "ON CONFLICT(name) DO UPDATE SET n = max(n, excluded.n)",
                (in_flight,),
            )
            faults = self.faults_type.from_dict(json.loads(self._meta(db, "faults")))
            api = db.execute(
                "SELECT enabled FROM api_switches WHERE environment = ?", (environment,)
            ).fetchone()
            switch = db.execute(
                "SELECT installed, enabled FROM app_switches WHERE app = ?", (app,)
            ).fetchone()
        configured = config.app(app)
        installed, enabled = (
            (configured.installed, configured.enabled) if configured else (False, False)
        )
        if switch is not None:
            installed = bool(switch[0]) if switch[0] is not None else installed
            enabled = bool(switch[1]) if switch[1] is not None else enabled
        api_enabled = bool(api[0]) if api else environment not in config.api_disabled
        return {
            "api_enabled": api_enabled, "installed": installed, "enabled": enabled,
            "faults": faults,
        }  # fmt: skip

    def set_app(self, app: str, *, installed: bool | None = None, enabled: bool | None = None):
        with self._transaction() as db:
            db.execute(
                "INSERT INTO app_switches VALUES (?, ?, ?) ON CONFLICT (app) DO UPDATE SET "
                "installed = coalesce(excluded.installed, installed), "
                "enabled = coalesce(excluded.enabled, enabled)",
                (app, installed, enabled),
            )

    def set_api(self, environment: str, enabled: bool) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO api_switches VALUES (?, ?)", (environment, enabled))

    def switches(self) -> dict[str, Any]:
        with self._transaction() as db:
            apps = db.execute("SELECT app, installed, enabled FROM app_switches").fetchall()
            apis = db.execute("SELECT environment, enabled FROM api_switches").fetchall()
        return {
            "apps": {a: {"installed": i, "enabled": e} for a, i, e in apps},
            "api_enabled": {env: bool(on) for env, on in apis},
        }

    # -- records ---------------------------------------------------------------------------------
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
