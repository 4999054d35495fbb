"""Workspace 365 in live mode: the sandbox served as its own process, switched by its admin
endpoints as an administrator switches the tenant, the product configured only by
`WORKSPACE365_*` variables and run as `p2p-assets sync workspace365` in a subprocess. The Basware
data it sends was loaded in live mode too (sandbox data never goes to a live target)."""

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from p2p_assets.defs.workspace365.assets import APP, EXPORT, TARGET
from p2p_assets.sandbox.workspace365 import (
    SANDBOX_TOKEN,
    Workspace365Sandbox,
    Workspace365SandboxConfig,
)
from p2p_assets_tests.defs.writeback import record_exports_built, shared_live_basware_warehouse
from p2p_assets_tests.live.conftest import CLI, Product, Served, output


@pytest.fixture(scope="module")
def basware_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_live_basware_warehouse(tmp_path_factory)


@pytest.fixture
def install(product, basware_warehouse: Path):
    """`install(served, name, **VARIABLES)`: an installation holding the Basware data, pointed
    at the served Workspace 365 sandbox."""

    def make(served: Served, name: str = "product", **variables: str) -> Product:
        user = product(
            name,
            WORKSPACE365_URL=served.url,
            WORKSPACE365_ENVIRONMENT="p2p",
            WORKSPACE365_TOKEN=SANDBOX_TOKEN,
            **variables,
        )
        user.data_dir.mkdir(parents=True)
        shutil.copyfile(basware_warehouse, user.warehouse)
        record_exports_built(user.data_dir)
        return user

    return make


def _created(served: Served) -> Counter[str]:
    """How many times Workspace 365 holds each Basware invoice (the tenant's own records)."""
    tenant = Workspace365Sandbox(Workspace365SandboxConfig(), served.state_dir)
    return Counter(r["record"]["Basware invoice id"] for r in tenant.records("p2p", APP))


def _stored(served: Served) -> list[dict]:
    return Workspace365Sandbox(Workspace365SandboxConfig(), served.state_dir).records("p2p", APP)


def _expected(user: Product) -> list[str]:
    return [row[0] for row in user.query(f"SELECT record_key FROM {EXPORT.relation} ORDER BY 1")]


def _outbox(user: Product) -> dict[str, tuple]:
    rows = user.query(
        "SELECT record_key, status, attempts, last_error FROM writeback.outbox WHERE target = ?",
        [TARGET],
    )
    return {r[0]: r[1:] for r in rows}


def _switch(served: Served, **switches: bool) -> None:
    served.admin("POST", f"apps/{quote(APP)}", switches)


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ({"enabled": False}, "HTTP 403, Business App isn't enabled"),
        ({"installed": False}, "HTTP 404; no Business App 'Invoice exceptions'"),
    ],
    ids=["disabled-403", "not-installed-404"],
)
def test_an_app_that_cannot_take_records_keeps_every_record_pending_until_it_can(
    serve, install, switch: dict, message: str
) -> None:
    served = serve("workspace365")
    user = install(served)
    expected = _expected(user)
    assert len(expected) > 8
    _switch(served, **switch)

    refused = user.sync("workspace365")
    assert refused.returncode == 1, output(refused)
    failed = next(line for line in refused.stdout.splitlines() if "FAILED write-back" in line)
    assert message in failed and "the records stay pending" in failed, failed
    rows = _outbox(user)
    assert set(rows) == set(expected)
    assert {status for status, *_ in rows.values()} == {"pending"}  # not rejected, not uncertain
    tried = {key: error for key, (_, attempts, error) in rows.items() if attempts}
    assert 1 <= len(tried) <= 4  # the calls in flight when it stopped, nothing after
    assert all(message in error for error in tried.values())
    assert _created(served) == Counter()

    _switch(served, enabled=True, installed=True)  # the administrator puts it right
    resumed = user.sync("workspace365")
    assert resumed.returncode == 0, output(resumed)
    assert f"{len(expected)} sent now" in resumed.stdout
    assert _created(served) == Counter({key: 1 for key in expected})  # each once
    assert {status for status, *_ in _outbox(user).values()} == {"sent"}


def test_records_go_four_at_a_time_and_never_more(serve, install) -> None:
    served = serve("workspace365")
    served.faults(delay_seconds=0.05)  # a remote tenant's latency, so the calls overlap
    user = install(served, WORKSPACE365_CONCURRENCY="4")
    result = user.sync("workspace365")
    assert result.returncode == 0, output(result)
    counters = served.admin("GET", "state")["counters"]
    assert 2 <= counters["max_in_flight"] <= 4, counters
    assert _created(served) == Counter({key: 1 for key in _expected(user)})


def test_a_sync_killed_mid_send_never_creates_a_record_twice(serve, install) -> None:
    served = serve("workspace365")
    served.faults(delay_seconds=0.3)
    user = install(served, WORKSPACE365_CONCURRENCY="4")
    expected = _expected(user)
    sync = subprocess.Popen(
        [*CLI, "sync", "workspace365"], env=user.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while sum(_created(served).values()) < 6:
        assert sync.poll() is None and time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.05)
    os.kill(sync.pid, signal.SIGKILL)  # four calls in flight, their answers never read
    sync.wait()
    time.sleep(1)  # the tenant finishes the requests it had
    served.clear_faults()

    resumed = user.sync("workspace365")
    assert resumed.returncode == 0, output(resumed)
    assert "marked failed: process" in resumed.stdout  # the killed run is recovered
    created = _created(served)
    assert set(created.values()) == {1}, created  # never a duplicate
    rows = _outbox(user)
    assert set(rows) == set(expected)
    uncertain = {key for key, (status, *_) in rows.items() if status == "uncertain"}
    assert 1 <= len(uncertain) <= 4  # the claims without an answer, for a person
    assert {status for key, (status, *_) in rows.items() if key not in uncertain} == {"sent"}
    assert set(created) >= set(expected) - uncertain  # every other record was sent, once


def test_date_times_without_a_zone_are_sent_as_the_manual_says(serve, install) -> None:
    plain = serve("workspace365", tenant="plain")
    zoned = serve("workspace365", tenant="zoned")
    as_server = install(plain, "as-server")
    amsterdam = install(zoned, "amsterdam", WORKSPACE365_TIMEZONE="Europe/Amsterdam")
    for user in (as_server, amsterdam):
        result = user.sync("workspace365")
        assert result.returncode == 0, output(result)
    (newest,) = as_server.query("SELECT max(extract_date) FROM basware.extracts")[0]
    assert newest.tzinfo is None  # Basware's times carry no zone
    # Unset: no zone on the wire, so Workspace 365 applies the environment's own.
    assert {r["record"]["Detected at"] for r in _stored(plain)} == {newest.isoformat()}
    # Set: read in that zone and sent with its offset.
    explicit = newest.replace(tzinfo=ZoneInfo("Europe/Amsterdam")).isoformat()
    assert explicit[-6:] in ("+01:00", "+02:00")
    assert {r["record"]["Detected at"] for r in _stored(zoned)} == {explicit}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKSPACE365_TIMEZONE", "Mars/Olympus", "must be an IANA time zone name"),
        ("WORKSPACE365_TIMEZONE", "+02:00", "must be an IANA time zone name"),
        ("WORKSPACE365_CONCURRENCY", "0", "must be a whole number of concurrent calls"),
        ("WORKSPACE365_CONCURRENCY", "many", "must be a whole number of concurrent calls"),
    ],
)
def test_a_wrong_setting_is_refused_before_anything_runs(
    serve, install, variable: str, value: str, message: str
) -> None:
    served = serve("workspace365")
    user = install(served, **{variable: value})
    result = user.sync("workspace365")
    assert result.returncode == 2, output(result)
    assert f"{variable} {message}" in result.stderr and repr(value) in result.stderr
    assert _created(served) == Counter()
