"""Basware in live mode: the sandbox served as its own process, the product configured only by
`BASWARE_*` variables and run as `p2p-assets sync` in a subprocess."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from p2p_assets_tests.live.basware import assert_truth, live_env, sandbox_of
from p2p_assets_tests.live.conftest import CLI, output

SMALL = {"invoices": "40", "initial_deltas": "2", "delta_interval_seconds": "0"}


def downloads(served) -> dict[tuple[str, str], int]:
    state = served.admin("GET", "state")
    return {(d["extractId"], d["fileName"]): d["count"] for d in state["downloads"]}


def test_a_live_sync_loads_the_truth_then_nothing_and_reuses_its_token(serve, product) -> None:
    served = serve("basware", **SMALL)
    user = product(**live_env(served))
    first = user.sync("basware")
    assert first.returncode == 0, output(first)
    assert "3 extract(s) waiting for export, 3 loaded and acknowledged, 0 failed" in first.stdout
    assert_truth(user, served)
    assert set(downloads(served).values()) == {1}  # every file downloaded exactly once
    tokens = user.data_dir / "basware" / "token.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    sources = user.run("warehouse", "sources")
    assert f"the live Basware API at {served.url}" in sources.stdout, output(sources)

    second = user.sync("basware")
    assert second.returncode == 0, output(second)
    assert "0 extract(s) waiting for export" in second.stdout
    assert "0 file(s) downloaded" in second.stdout
    assert set(downloads(served).values()) == {1}
    for result in (first, second, sources):
        assert "sandbox-secret" not in result.stdout + result.stderr


def test_throttling_errors_and_expiring_tokens_mid_run_still_end_at_the_truth(
    serve, product
) -> None:
    served = serve("basware", **SMALL)
    served.faults(
        token_lifetime_seconds=1,
        fail_next=[
            {"status": 429, "count": 2, "retry_after": 0.2},
            {"status": 503, "count": 2},
            {"status": 500, "count": 2, "path_prefix": "/v1/dataExtracts/"},
        ],
    )
    user = product(**live_env(served))
    result = user.sync("basware")
    assert result.returncode == 0, output(result)
    assert served.admin("GET", "state")["faults"]["fail_next"] == []  # every fault was met
    assert_truth(user, served)


def test_a_corrupt_file_fails_alone_and_heals_on_the_next_run(serve, product) -> None:
    served = serve("basware", **SMALL)
    user = product(**live_env(served))
    assert user.sync("basware").returncode == 0
    delta = served.admin("POST", "publish")
    sandbox = sandbox_of(served)
    index = sandbox.extract_index(delta["id"])
    victim = next(f["fileName"] for f in sandbox.files(index) if f["tableName"] == "IA_INVOICE")
    served.faults(corrupt_files={victim: "garbage"})

    broken = user.sync("basware")
    assert broken.returncode == 1, output(broken)
    assert victim in broken.stdout and "moved aside" in broken.stdout

    served.clear_faults()
    healed = user.sync("basware")
    assert healed.returncode == 0, output(healed)
    assert "1 loaded and acknowledged, 0 failed" in healed.stdout
    assert downloads(served)[(delta["id"], victim)] == 2  # the corrupt copy, then the good one
    assert_truth(user, served)


def test_hostile_ids_and_file_names_are_refused_by_name_and_never_reach_the_disk(
    serve, product, tmp_path: Path
) -> None:
    served = serve("basware", **SMALL)
    sandbox = sandbox_of(served)
    last = sandbox.published_deltas()
    renamed = next(f["fileName"] for f in sandbox.files(last) if f["tableName"] == "IA_INVOICE")
    hostile = {"type": "Delta", "processingStatus": "WaitingForExport",
               "extractDate": "30/03/2024, 02:20:00"}  # fmt: skip
    served.faults(
        extra_extracts=[{**hostile, "id": "../../escape"}, {**hostile, "id": "/tmp/absolute"}],
        file_names={renamed: "IA_INVOICE_*.json.gz"},
    )
    user = product(**live_env(served))
    result = user.sync("basware")
    assert result.returncode == 1, output(result)
    assert "REFUSED Basware extract '../../escape'" in result.stdout
    assert "REFUSED Basware extract '/tmp/absolute'" in result.stdout
    # Every extract carries the renamed file: each is refused naming it, none half-loaded.
    assert "'IA_INVOICE_*.json.gz' is refused" in result.stdout
    assert loaded_extracts(user) == 0
    written = {p for p in tmp_path.rglob("*")}
    assert all(
        p.is_relative_to(user.data_dir) or p.is_relative_to(served.state_dir.parent.parent)
        for p in written
    ), sorted(str(p) for p in written)
    assert not any("*" in p.name or p.name == "escape" for p in written)

    served.faults(extra_extracts=[{**hostile, "id": "../../escape"}])  # the name is fixed
    retried = user.sync("basware")
    assert "3 loaded and acknowledged" in retried.stdout, output(retried)
    assert retried.returncode == 1  # the hostile id is still listed, and still refused
    assert_truth(user, served)


def loaded_extracts(user) -> int:
    if not user.warehouse.exists():
        return 0
    tables = user.query(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'basware' AND table_name = 'extracts'"
    )
    return user.query("SELECT count(*) FROM basware.extracts")[0][0] if tables[0][0] else 0


def test_a_table_basware_adds_is_loaded_and_becomes_an_asset(serve, product) -> None:
    served = serve("basware", **SMALL)
    user = product(**live_env(served))
    assert user.sync("basware").returncode == 0
    sandbox = sandbox_of(served)
    served.faults(add_tables={"IA_INVOICE_COMMENT": sandbox.published_deltas() + 1})
    served.admin("POST", "publish")
    result = user.sync("basware")
    assert result.returncode == 0, output(result)
    assert "IA_INVOICE_COMMENT" in result.stdout
    assert_truth(user, served)  # the new table included, typed by the table definition
    keys = subprocess.run(
        [sys.executable, "-c", "from p2p_assets.definitions import defs; "
         "print([k.to_user_string() for k in defs.resolve_all_asset_keys()])"],
        env=user.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "basware/ia_invoice_comment" in keys.stdout, keys.stdout + keys.stderr


def test_downloads_redirected_to_a_storage_host_that_refuses_our_token(serve, product) -> None:
    served = serve("basware", **SMALL, storage_host="127.0.0.2", compression="zip")
    deadline = time.monotonic() + 10
    while not any(line.startswith("storage on http://127.0.0.2:") for line in served.lines):
        assert time.monotonic() < deadline, served.lines
        time.sleep(0.1)
    user = product(**live_env(served))
    result = user.sync("basware")
    assert result.returncode == 0, output(result)
    assert_truth(user, served)
    assert set(downloads(served).values()) == {1}  # the refused request was not a download


def test_data_set_zips_with_members_of_the_same_name_load_every_record(serve, product) -> None:
    served = serve("basware", **SMALL, compression="zip", zip_layout="dataset",
                   duplicate_basenames="1")  # fmt: skip
    user = product(**live_env(served))
    result = user.sync("basware")
    assert result.returncode == 0, output(result)
    assert_truth(user, served)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"BASWARE_CLIENT_ID": "sandbox-client"}, "BASWARE_API_URL"),
        ({"BASWARE_API_URL": "http://127.0.0.1:9", "BASWARE_CLIENT_ID": "c"},
         "BASWARE_CLIENT_SECRET"),
        ({"BASWARE_API_URL": "http://api.example.com", "BASWARE_CLIENT_ID": "c",
          "BASWARE_CLIENT_SECRET": "s"}, "https://"),
    ],
)  # fmt: skip
def test_an_incomplete_or_unsafe_configuration_stops_every_command_by_name(
    product, variables: dict[str, str], named: str
) -> None:
    user = product(**variables)
    for command in (("sync", "basware"), ("sync",), ("dev", "--no-sync")):
        result = user.run(*command, timeout=120)
        assert result.returncode == 2, output(result)
        assert named in result.stderr
        assert not user.warehouse.exists()


def test_one_live_vendor_leaves_the_others_off_not_on_their_sandbox(serve, product) -> None:
    served = serve("basware", **SMALL)
    user = product(**live_env(served))
    named = user.sync("visma")
    assert named.returncode == 2 and "visma is not configured" in named.stderr, output(named)
    everything = user.sync()
    assert everything.returncode == 0, output(everything)
    assert "visma: not configured (another vendor is live); skipped" in everything.stdout
    assert "writeback: not configured" in everything.stdout
    # The marts reading Visma are left out, saying why; the Basware ones are built.
    assert ("not built: cost_by_cost_center_month, payment_reconciliation (they read visma, "
            "not configured here)") in everything.stdout  # fmt: skip
    assert "marts.invoices" in everything.stdout
    assert not (user.data_dir / "sandbox").exists()  # no sandbox was started


def test_sandbox_and_live_data_never_share_a_warehouse(serve, product) -> None:
    trial = product(**{f"P2P_SANDBOX_BASWARE_{k.upper()}": v for k, v in SMALL.items()})
    assert trial.sync("basware").returncode == 0  # the env-less sandbox
    served = serve("basware", **SMALL)
    live = product(**live_env(served))
    live.env["P2P_DATA_DIR"] = str(trial.data_dir)  # the same installation, now pointed live
    refused = live.sync("basware")
    assert refused.returncode == 1, output(refused)
    assert str(trial.warehouse) in refused.stdout
    assert "Basware data from the Basware sandbox" in refused.stdout
    assert "P2P_DATA_DIR" in refused.stdout


def test_the_sensor_asks_for_what_the_sync_loads(serve, monkeypatch, tmp_path: Path) -> None:
    served = serve("basware", **SMALL)
    monkeypatch.setenv("P2P_DATA_DIR", str(tmp_path / "sensor"))
    for name, value in live_env(served).items():
        monkeypatch.setenv(name, value)
    from p2p_assets.defs.basware.resources import basware_resource_from_env
    from p2p_assets.defs.basware.sensors import basware_extracts_sensor

    resource = basware_resource_from_env()  # EnvVars, as the definitions hold them
    assert isinstance(resource.api_url, dg.EnvVar)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"basware": resource})
        result = basware_extracts_sensor(context)
        expected = [item["id"] for item in sandbox_of(served).extracts()]
        assert [r.partition_key for r in result.run_requests] == expected
        assert [r.run_key for r in result.run_requests] == expected
        (added,) = result.dynamic_partitions_requests
        assert list(added.partition_keys) == expected
        assert json.loads(result.cursor)["waiting"] == 3
    # A second tick, a second sensor process: the token is the cached one.
    token_file = tmp_path / "sensor" / "basware" / "token.json"
    before = token_file.read_bytes()
    tick = subprocess.run(
        [*CLI[:1], "-c", "import dagster as dg\n"
         "from p2p_assets.defs.basware.resources import basware_resource_from_env\n"
         "from p2p_assets.defs.basware.sensors import basware_extracts_sensor\n"
         "with dg.DagsterInstance.ephemeral() as i:\n"
         "    r = basware_extracts_sensor(dg.build_sensor_context(instance=i, resources="
         "{'basware': basware_resource_from_env()}))\n"
         "    print(len(r.run_requests))"],
        env={**os.environ}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tick.stdout.strip() == "3", tick.stdout + tick.stderr
    assert token_file.read_bytes() == before
