"""The code location loads as `dg check defs` loads it: every asset, check, job and sensor."""

import dagster as dg

from p2p_assets.definitions import defs
from p2p_assets.lib.basware.tables import ALL_TABLES, REFERENCES
from p2p_assets.lib.visma.business_types import DEFAULT_SUBSCRIPTIONS


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {f"basware/{t.lower()}" for t in ALL_TABLES} <= keys
    assert {
        "basware/extract_files",
        "basware/extracts",
        "basware/extract_acknowledgement",
        "basware/table_definition",
    } <= keys
    checks = repository.asset_graph.asset_check_keys
    assert len([c for c in checks if c.name == "ids_are_unique"]) == len(ALL_TABLES)
    basware_checks = [c for c in checks if c.asset_key.path[0] == "basware"]
    assert len(basware_checks) == len(ALL_TABLES) + len(REFERENCES)
    job = defs.resolve_job_def("basware_extract_job")
    assert job.partitions_def is not None
    assert job.partitions_def.name == "basware_extract"
    sensor = defs.resolve_sensor_def("basware_extracts_sensor")
    assert sensor.job_name == "basware_extract_job"
    assert set(repository.get_top_level_resources()) >= {"basware", "visma", "warehouse"}


def test_visma_definitions():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    # One asset per subscribed business type (the default subscriptions), and the publisher.
    assert {f"visma/bt_{t}" for t in DEFAULT_SUBSCRIPTIONS} | {
        "visma/published_cost_allocation"
    } <= keys
    visma_checks = {
        (c.asset_key.to_user_string(), c.name)
        for c in repository.asset_graph.asset_check_keys
        if c.asset_key.path[0] == "visma"
    }
    assert visma_checks == {
        ("visma/bt_134001", "payments_match_control_sums"),
        ("visma/bt_113003", "journals_balance"),
    }
    for type_id in DEFAULT_SUBSCRIPTIONS:
        job = defs.resolve_job_def(f"visma_{type_id}_job")
        assert job.partitions_def is not None
        assert job.partitions_def.name == f"visma_{type_id}_file"
    # Mutation runs are serialised per business type by dagster.yaml's tag limit.
    assert defs.resolve_job_def("visma_101100_job").tags["visma/applies_in_order"] == "101100"
    assert "visma/applies_in_order" not in defs.resolve_job_def("visma_134001_job").tags
    sensor = defs.resolve_sensor_def("visma_files_sensor")
    assert {t.job_name for t in sensor.targets} == {f"visma_{t}_job" for t in DEFAULT_SUBSCRIPTIONS}


def test_writeback_definitions():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert "workspace365/invoice_exceptions" in keys
    checks = {
        (c.asset_key.to_user_string(), c.name) for c in repository.asset_graph.asset_check_keys
    }
    assert {
        "boss_insights/vendors", "boss_insights/payable_invoices", "boss_insights/sync_events",
    } <= keys  # fmt: skip
    for asset in ("workspace365/invoice_exceptions", "boss_insights/vendors",
                  "boss_insights/payable_invoices"):  # fmt: skip
        assert (asset, "no_record_was_rejected") in checks
    for job in ("workspace365_writeback_job", "boss_insights_writeback_job"):
        assert defs.resolve_job_def(job) is not None
    sensor = defs.resolve_sensor_def("boss_insights_webhook_sensor")
    assert sensor.job_name == "boss_insights_sync_events_job"
    assert {"workspace365", "boss_insights"} <= set(repository.get_top_level_resources())
    # Invoices go after their vendors: the CDM refuses an invoice whose vendor it does not have.
    graph = repository.asset_graph
    invoices = dg.AssetKey(["boss_insights", "payable_invoices"])
    assert dg.AssetKey(["boss_insights", "vendors"]) in graph.get(invoices).parent_keys


def test_each_writeback_asset_reads_its_export_model():
    """A write-back asset depends on the dbt model (a view in schema `exports`) whose rows it
    sends, not on the raw tables: `p2p-assets sync` builds that model first when it is stale."""
    graph = defs.get_repository_def().asset_graph
    exports = {
        ("workspace365", "invoice_exceptions"): "workspace365_invoice_exceptions",
        ("boss_insights", "vendors"): "boss_insights_vendors",
        ("boss_insights", "payable_invoices"): "boss_insights_payable_invoices",
    }
    for asset, model in exports.items():
        parents = graph.get(dg.AssetKey(list(asset))).parent_keys
        assert dg.AssetKey(["marts", model]) in parents, asset
        assert not [p for p in parents if p.path[0] == "basware"], asset  # only through the view
        export = graph.get(dg.AssetKey(["marts", model]))
        assert export.group_name == "marts"
        columns = export.metadata["dagster/column_schema"].columns
        assert columns[0].name == "record_key"
        assert all(c.description for c in columns), model  # described in exports.yml
        checks = {c.name for c in graph.asset_check_keys if c.asset_key == export.key}
        assert {"unique_" + model + "_record_key", "not_null_" + model + "_record_key"} <= checks
