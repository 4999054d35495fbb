"""A sandbox tenant served over loopback HTTP, the pipeline pointed at it, and ways to look at the
warehouse it fills."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from p2p_assets import settings
from p2p_assets.definitions import defs
from p2p_assets.defs.basware.assets import (
    basware_extract_acknowledgement,
    basware_extract_files,
    basware_extract_partitions,
    basware_tables,
)
from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.warehouse import snapshots
from p2p_assets.lib.warehouse.connection import connect
from p2p_assets.sandbox.basware import BaswareSandbox, BaswareSandboxConfig

PARTITIONS = basware_extract_partitions.name or ""
PIPELINE_ASSETS = [basware_extract_files, basware_tables, basware_extract_acknowledgement]
# Load timestamps legitimately change when an extract is loaded again.
LOAD_TIME_COLUMNS = {"_loaded_at", "loaded_at"}


def small_config(**overrides: Any) -> BaswareSandboxConfig:
    """A tenant small enough for a run to take a few seconds."""
    return BaswareSandboxConfig(**{"seed": 5, "invoices": 40, "initial_deltas": 1, **overrides})


@dataclass
class Tenant:
    """One served sandbox tenant, the Dagster instance and the warehouse the pipeline writes."""

    sandbox: BaswareSandbox
    url: str
    instance: dg.DagsterInstance

    @property
    def basware(self) -> BaswareResource:
        """The resource as configured for a real tenant: an API URL and OAuth2 credentials."""
        return BaswareResource(
            api_url=self.url,
            client_id=self.sandbox.config.client_id,
            client_secret=self.sandbox.config.client_secret,
        )

    @property
    def warehouse_path(self) -> Path:
        """The pipeline's working file: what in-process runs committed (published or not)."""
        return snapshots.layout(settings.warehouse_path()).working

    @property
    def resources(self) -> dict[str, Any]:
        return {"basware": self.basware, "warehouse": DuckDBWarehouse()}

    def extract_ids(self) -> list[str]:
        """Published extracts, Initial first."""
        return [item["id"] for item in self.sandbox.extracts()]

    def statuses(self) -> dict[str, str]:
        """processingStatus of every published extract, as the API lists it."""
        return {item["id"]: item["processingStatus"] for item in self.sandbox.extracts()}

    def tables(self) -> list[str]:
        """The tenant's tables, from its own table definition."""
        return [t["Table name"] for t in self.sandbox.table_definition()]

    def run(self, extract: str | int, *, checks: bool = False) -> dg.ExecuteInProcessResult:
        """Run the pipeline for one extract (id or index). `checks=True` runs the real
        `basware_extract_job` with its asset checks; otherwise only its three assets are
        materialised (the same code, without the 25 check steps)."""
        extract_id = self.sandbox.extract_id(extract) if isinstance(extract, int) else extract
        known = set(self.instance.get_dynamic_partitions(PARTITIONS))
        missing = [i for i in self.extract_ids() if i not in known]
        if missing:
            self.instance.add_dynamic_partitions(PARTITIONS, missing)
        if checks:
            return defs.resolve_job_def("basware_extract_job").execute_in_process(
                instance=self.instance,
                partition_key=extract_id,
                resources=self.resources,
                raise_on_error=False,
            )
        return dg.materialize(
            PIPELINE_ASSETS,
            instance=self.instance,
            partition_key=extract_id,
            resources=self.resources,
            raise_on_error=False,
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        with connect(self.warehouse_path, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def records(self, schema: str, table: str) -> list[dict[str, Any]]:
        with connect(self.warehouse_path, read_only=True) as con:
            cursor = con.execute(f'SELECT * FROM {schema}."{table}"')
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def warehouse_tables(self, schema: str) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
        )
        return {name for (name,) in rows}

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every table of both Basware schemas, sorted, without load timestamps."""
        result = {}
        for schema in ("basware", "basware_history"):
            for table in sorted(self.warehouse_tables(schema)):
                rows = self.records(schema, table)
                result[f"{schema}.{table}"] = sorted(
                    (
                        tuple(
                            (k, str(v)) for k, v in sorted(r.items()) if k not in LOAD_TIME_COLUMNS
                        )
                        for r in rows
                    ),
                )
        return result


@contextlib.contextmanager
def serving(
    config: BaswareSandboxConfig, state_dir: Path, instance: dg.DagsterInstance
) -> Iterator[Tenant]:
    sandbox = BaswareSandbox(config, state_dir)
    with sandbox.serve() as url:
        yield Tenant(sandbox=sandbox, url=url, instance=instance)


def truth_mismatches(tenant: Tenant, tables: list[str] | None = None) -> list[str]:
    """Differences between `basware.<table>` and the sandbox's ground truth, per table: the set of
    IDs, then every truth column of every record, value and Python type (Decimal, date, datetime,
    int, str). Empty when they agree."""
    problems = []
    for table in tables if tables is not None else tenant.tables():
        truth = {r["ID"]: r for r in tenant.sandbox.truth(table)}
        name = table.lower()
        if name not in tenant.warehouse_tables("basware"):
            problems.append(f"basware.{name} does not exist")
            continue
        loaded = {r["ID"]: r for r in tenant.records("basware", name)}
        if set(loaded) != set(truth):
            problems.append(
                f"basware.{name}: {len(set(truth) - set(loaded))} IDs missing, "
                f"{len(set(loaded) - set(truth))} unexpected (of {len(truth)})"
            )
            continue
        for record_id, expected in truth.items():
            got = loaded[record_id]
            for column, value in expected.items():
                actual = got.get(column, "<no such column>")
                same = actual == value and (value is None or type(actual) is type(value))
                if not same:
                    problems.append(
                        f"basware.{name} ID {record_id} {column}: {actual!r} != {value!r}"
                    )
    return problems


def assert_matches_truth(tenant: Tenant, tables: list[str] | None = None) -> None:
    problems = truth_mismatches(tenant, tables)
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:10])


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure of a run: error messages with their causes, and Failure descriptions."""
    parts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            parts.append(data.user_failure_data.description)
        error = data.error
        while error is not None:
            parts.append(error.message)
            error = error.cause
    return "\n".join(parts)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """`asset/check` -> passed, for every asset check evaluated in a run."""
    outcome = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            outcome[f"{evaluation.asset_key.to_user_string()}/{evaluation.check_name}"] = (
                evaluation.passed
            )
    return outcome
