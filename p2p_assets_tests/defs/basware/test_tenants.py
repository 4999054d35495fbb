"""Tenants of every shape load equal to their truth: Insights Essentials, CSV in zip archives,
uncompressed JSON, and the in-process sandbox a new user gets without credentials."""

import dagster as dg
import pytest

from p2p_assets import settings
from p2p_assets.defs.basware.resources import basware_resource_from_env
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.basware.tables import ESSENTIALS_TABLES, PRO_TABLES
from p2p_assets.sandbox.basware import BaswareSandbox
from p2p_assets.sandbox.basware.env import config_from_env
from p2p_assets_tests.defs.basware.helpers import (
    PARTITIONS,
    PIPELINE_ASSETS,
    Tenant,
    assert_matches_truth,
    failure_text,
)


def test_essentials_tenant_never_materialises_pro_tables(serve_tenant):
    tenant = serve_tenant(tier="essentials")
    assert set(tenant.tables()) == set(ESSENTIALS_TABLES)
    for extract_id in tenant.extract_ids():
        result = tenant.run(extract_id)
        assert result.success, failure_text(result)
        materialised = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
        assert {t.lower() for t in ESSENTIALS_TABLES} <= materialised
        assert not {t.lower() for t in PRO_TABLES} & materialised
    for schema in ("basware", "basware_history"):
        assert not {t.lower() for t in PRO_TABLES} & tenant.warehouse_tables(schema)
    for table in PRO_TABLES:
        key = dg.AssetKey(["basware", table.lower()])
        assert tenant.instance.get_latest_materialization_event(key) is None
    assert set(tenant.statuses().values()) == {"Exported"}
    assert_matches_truth(tenant)


@pytest.mark.parametrize(("file_format", "compression"), [("csv", "zip"), ("json", "none")])
def test_file_formats_load_equal_to_the_truth(serve_tenant, file_format: str, compression: str):
    tenant: Tenant = serve_tenant(file_format=file_format, compression=compression)
    suffix = {"zip": ".zip", "none": "", "gz": ".gz"}[compression]
    assert all(f["fileName"].endswith(f".{file_format}{suffix}") for f in tenant.sandbox.files(0))
    for extract_id in tenant.extract_ids():
        result = tenant.run(extract_id)
        assert result.success, failure_text(result)
    assert set(tenant.statuses().values()) == {"Exported"}
    assert_matches_truth(tenant)


def test_without_credentials_the_in_process_sandbox_serves(
    data_env, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    for name, value in {
        "INVOICES": "40",
        "INITIAL_DELTAS": "0",
        "DELTA_INTERVAL_SECONDS": "0",
        "SEED": "9",
    }.items():
        monkeypatch.setenv(f"P2P_SANDBOX_BASWARE_{name}", value)
    for name in ("TIER", "FORMAT", "COMPRESSION"):
        monkeypatch.delenv(f"P2P_SANDBOX_BASWARE_{name}", raising=False)
    sandbox = BaswareSandbox(config_from_env(), settings.sandbox_dir("basware"))
    extract_id = sandbox.extract_id(0)
    instance.add_dynamic_partitions(PARTITIONS, [extract_id])
    # The `basware` resource as the code location builds it: with BASWARE_API_URL unset it serves
    # the sandbox in-process from {P2P_DATA_DIR}/sandbox/basware.
    resource = basware_resource_from_env()
    assert resource.uses_sandbox
    result = dg.materialize(
        PIPELINE_ASSETS,
        instance=instance,
        partition_key=extract_id,
        resources={"basware": resource, "warehouse": DuckDBWarehouse()},
        raise_on_error=False,
    )
    assert result.success, failure_text(result)
    assert sandbox.extracts()[0]["processingStatus"] == "Exported"
    tenant = Tenant(sandbox=sandbox, url="", instance=instance)
    assert_matches_truth(tenant)
