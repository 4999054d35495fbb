"""Live mode as production runs it: each vendor sandbox served as its own process
(`p2p-assets sandbox serve <vendor>`), the product configured only through the environment
variables README documents, and driven as a user drives it (`p2p-assets sync` as a subprocess,
the sensors, the Dagster daemon).

The sandbox processes keep their state in a directory of their own; a test reads the ground truth
by opening that state directory with the sandbox's own classes (as the vendor's database would
be asked), never by reaching into the product.
"""

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from p2p_assets_tests.conftest import VENDOR_PREFIXES

CLI = [sys.executable, "-m", "p2p_assets.cli"]
# The sandboxes' credentials: what a user copies from `p2p-assets sandbox serve`'s output.
BASWARE_CREDENTIALS = {
    "BASWARE_CLIENT_ID": "sandbox-client",
    "BASWARE_CLIENT_SECRET": "sandbox-secret",
}
VISMA_CREDENTIALS = {
    "VISMA_CLIENT_ID": "sandbox-client",
    "VISMA_CLIENT_SECRET": "sandbox-secret",
    "VISMA_TENANT_ID": "sandbox",
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any vendor, sandbox or Dagster setting."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("P2P_", "DAGSTER_", *VENDOR_PREFIXES))
    }
    env.update(extra)
    return env


@dataclass
class Served:
    """A vendor sandbox running as its own process."""

    vendor: str
    url: str
    state_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def faults(self, **faults: Any) -> None:
        self.admin("POST", "faults", faults)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")


def _drain(served: "Served") -> None:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        served.lines.append(line.rstrip("\n"))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(vendor, **P2P_SANDBOX_<VENDOR>_* settings)` starts the sandbox as its own process;
    `tenant=` names a second one of the same vendor (its own state, the same data)."""
    started: list[Served] = []

    def start(vendor: str, tenant: str = "vendor", **settings: str) -> Served:
        state = tmp_path / f"{vendor}-{tenant}"
        prefix = f"P2P_SANDBOX_{vendor.upper()}_"
        env = clean_env(
            P2P_DATA_DIR=str(state), **{f"{prefix}{k.upper()}": v for k, v in settings.items()}
        )
        process = subprocess.Popen(
            [*CLI, "sandbox", "serve", vendor, "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith(f"serving {vendor} on http://"), first
        served = Served(vendor, first.rsplit(" ", 1)[1], state / "sandbox" / vendor, env, process)
        served.lines.append(first)
        # Keep reading what it prints, so a full pipe never blocks the sandbox.
        threading.Thread(target=_drain, args=(served,), daemon=True).start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.process.terminate()
        try:
            served.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.communicate()


@dataclass
class Product:
    """The product as a user installs it: a data directory and environment variables."""

    data_dir: Path
    env: dict[str, str]

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def run(self, *args: str, timeout: float = 600, **extra_env: str):
        return subprocess.run(
            [*CLI, *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def sync(self, *vendors: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return self.run("sync", *vendors, **extra_env)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def records(self, schema: str, table: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute(f'SELECT * FROM {schema}."{table}"')
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def product(tmp_path: Path) -> Callable[..., Product]:
    """`product(name, **VARIABLES)`: a fresh installation configured only by the environment."""

    def make(name: str = "product", **variables: str) -> Product:
        data_dir = tmp_path / name
        return Product(data_dir, clean_env(P2P_DATA_DIR=str(data_dir), **variables))

    return make


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
