"""The marts as Dagster loads them: one asset per dbt model in the `marts` group, downstream of
the loads whose tables it reads, in the `duckdb` pool, described column by column, with the dbt
tests as asset checks and an automation condition that rebuilds them after a load."""

import dagster as dg
import pytest

from p2p_assets.definitions import defs
from p2p_assets.defs.marts.project import MARTS_AUTOMATION
from p2p_assets_tests.defs.marts.common import MARTS

READS = {
    "invoices": {"basware/ia_invoice", "basware/ia_action_log", "basware/pe_process_task"},
    "spend_by_supplier_month": {"basware/ia_coding_row", "basware/ia_invoice"},
    "po_match": {"basware/ia_invoice_row", "basware/om_order_row", "basware/om_goods_receipt"},
    "duplicate_invoice_candidates": {"basware/ia_invoice"},
    "payment_reconciliation": {"visma/bt_134000", "visma/bt_134001", "basware/adm_supplier"},
    "cost_by_cost_center_month": {"visma/bt_113003", "marts/spend_by_supplier_month"},
}
CHECKS = {
    ("invoices", "invoices_one_row_per_invoice"),
    ("spend_by_supplier_month", "spend_equals_coding_total"),
    ("payment_reconciliation", "reconciliation_every_transfer_once"),
    ("payment_reconciliation", "payments_reconcile"),
    ("po_match", "unique_po_match_invoice_row_id"),
}


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


@pytest.mark.parametrize("mart", MARTS)
def test_each_mart_is_an_asset_downstream_of_what_it_reads(graph, mart):
    key = dg.AssetKey(["marts", mart])
    node = graph.get(key)
    assert node.group_name == "marts"
    parents = {p.to_user_string() for p in node.parent_keys}
    assert READS[mart] <= parents, parents
    assert node.automation_condition is not None
    assert node.automation_condition.get_label() == MARTS_AUTOMATION.get_label()
    spec = next(s for s in graph.assets_defs_for_keys([key])[0].specs if s.key == key)
    assert spec.description and len(spec.description) > 40
    columns = spec.metadata["dagster/column_schema"].columns
    assert len(columns) >= 5
    undocumented = [c.name for c in columns if not (c.description or "").strip()]
    assert undocumented == []


def test_the_marts_run_in_the_duckdb_pool_alone(graph):
    assets_def = graph.assets_defs_for_keys([dg.AssetKey(["marts", "invoices"])])[0]
    assert assets_def.op.pool == "duckdb"
    assert "dbt" in assets_def.required_resource_keys
    job = defs.resolve_job_def("marts_job")
    assert {k.path[0] for k in job.asset_layer.selected_asset_keys} == {"marts"}


def test_dbt_tests_are_asset_checks(graph):
    checks = {(c.asset_key.path[-1], c.name) for c in graph.asset_check_keys}
    assert CHECKS <= checks


def test_the_automation_sensor_targets_the_marts_and_starts_running():
    sensor = defs.resolve_sensor_def("marts_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    selected = sensor.asset_selection.resolve(defs.resolve_asset_graph())
    assert {dg.AssetKey(["marts", m]) for m in MARTS} <= selected
    assert all(k.path[0] == "marts" for k in selected)


def test_a_load_requests_the_marts_that_read_it_once():
    """The automation condition, evaluated as the sensor does: a new partition of
    basware/ia_invoice requests every mart that reads it (and no other), once."""
    instance = dg.DagsterInstance.ephemeral()
    marts = dg.AssetSelection.groups("marts")
    instance.add_dynamic_partitions("basware_extract", ["e1"])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=marts)
    assert first.total_requested == 0  # nothing changed since the sensor started
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["basware", "ia_invoice"]), partition="e1")
    )
    loaded = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=marts, cursor=first.cursor
    )
    requested = {r.key.path[-1] for r in loaded.results if r.true_subset.size}
    readers = {m for m, reads in READS.items() if "basware/ia_invoice" in reads}
    assert readers <= requested
    assert "cost_by_cost_center_month" in requested  # through spend_by_supplier_month
    assert "company_currencies" not in requested  # a seed reads nothing that changed
    for mart in requested:
        instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["marts", mart])))
    built = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=marts, cursor=loaded.cursor
    )
    assert built.total_requested == 0


def test_a_mart_waits_for_the_mart_it_reads_to_exist():
    """Visma's payroll loaded before Basware's first extract: the cost per cost centre, which
    joins the spend per supplier, is not built alone while the spend was never built; once a
    Basware load asks for the spend, both are requested on the same tick (one dbt build)."""
    instance = dg.DagsterInstance.ephemeral()
    marts = dg.AssetSelection.groups("marts")
    instance.add_dynamic_partitions("basware_extract", ["e1"])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=marts)
    payroll = next(iter(k for k in READS["cost_by_cost_center_month"] if k.startswith("visma/")))
    visma = defs.resolve_asset_graph().get(dg.AssetKey(payroll.split("/")))
    partition = None
    if visma.partitions_def is not None:
        name = visma.partitions_def.name
        instance.add_dynamic_partitions(name, ["f1"])
        partition = "f1"
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=visma.key, partition=partition)
    )
    after_payroll = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=marts, cursor=first.cursor
    )
    requested = {r.key.path[-1] for r in after_payroll.results if r.true_subset.size}
    assert "cost_by_cost_center_month" not in requested
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["basware", "ia_coding_row"]), partition="e1")
    )
    after_basware = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=marts, cursor=after_payroll.cursor
    )
    requested = {r.key.path[-1] for r in after_basware.results if r.true_subset.size}
    assert {"spend_by_supplier_month", "cost_by_cost_center_month"} <= requested
