"""The concurrency pools say what each step does, for every op of every job in the real
definitions: a step that opens the DuckDB warehouse runs in pool `duckdb` (its single writer), a
step in pool `duckdb` never holds a vendor client (an HTTP call would hold the warehouse's one slot
for as long as the vendor takes), and a vendor call runs in that vendor's pool.

What a step does is read from its body: how it uses the resources it asks for. A resource is a
parameter named by its key, so every use of that name is either an attribute read off it
(`basware.get_client`, `warehouse.connect`) or something else (passed on to a helper), which the
rules below refuse wherever they would have to trust the helper.
"""

import ast
import inspect
import textwrap
from collections.abc import Iterator

import dagster as dg
import pytest

from p2p_assets.definitions import defs

VENDOR_POOLS = {
    "basware": "basware_api",
    "boss_insights": "boss_insights_api",
    "visma": "visma_api",
    "workspace365": "workspace365_api",
}
"""Vendor resource key -> the pool its calls run in (resource keys as in defs/resources.py)."""
CONFIGURATION = {"source", "write_path", "update_method", "webhook_layout", "mapping_file",
                 "send_concurrency", "zone"}  # fmt: skip
"""What a `duckdb` step may read off a vendor resource: configuration, never a call (`source()`
names where data comes from, `write_path()` is a configured path, `update_method()`,
`webhook_layout()` and `mapping_file()` read Boss Insights' configured update method, webhook
layout and CDM field mapping, `send_concurrency()` a configured number of calls at once (read at
the plan, so a wrong one fails before anything), `zone()` Workspace 365's configured time zone)."""
JOURNAL = {"journal"}
"""What a step outside `duckdb` may use of the warehouse resource: the write-back send journal, a
SQLite file beside the warehouse (never the DuckDB file)."""
PASSED_ON = "<passed on>"


def _ops() -> Iterator[dg.OpDefinition]:
    seen: dict[str, dg.OpDefinition] = {}
    for job in defs.get_repository_def().get_all_jobs():
        for op in job.graph.iterate_op_defs():
            seen.setdefault(op.name, op)
    yield from seen.values()


OPS = sorted(_ops(), key=lambda op: op.name)


def _uses(op: dg.OpDefinition, key: str) -> set[str]:
    """How `op`'s body uses resource `key`: the attributes it reads off it, and PASSED_ON for any
    other use of the name."""
    fn = op.compute_fn.decorated_fn  # type: ignore[union-attr]
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assert key in {a.arg for a in body.args.args + body.args.kwonlyargs}, (
        f"{op.name}: resource {key} is not a parameter of {fn.__name__}; cannot tell its use"
    )
    parents = {child: node for node in ast.walk(body) for child in ast.iter_child_nodes(node)}
    uses = set()
    for node in ast.walk(body):
        if isinstance(node, ast.Name) and node.id == key:
            parent = parents[node]
            attribute = isinstance(parent, ast.Attribute) and parent.value is node
            uses.add(parent.attr if attribute else PASSED_ON)
    return uses


def test_the_definitions_have_the_steps_these_rules_are_about():
    pools = {op.pool for op in OPS}
    assert {"duckdb", *VENDOR_POOLS.values()} <= pools
    assert all(op.pool for op in OPS if op.required_resource_keys), [
        op.name for op in OPS if op.required_resource_keys and not op.pool
    ]


@pytest.mark.parametrize("op", [op for op in OPS if op.pool == "duckdb"], ids=lambda op: op.name)
def test_a_duckdb_step_makes_no_vendor_call(op: dg.OpDefinition):
    for key in sorted(set(VENDOR_POOLS) & op.required_resource_keys):
        uses = _uses(op, key)
        assert uses <= CONFIGURATION, (
            f"{op.name} (pool duckdb) uses {sorted(uses - CONFIGURATION)} of resource {key}: "
            f"split the vendor call into its own step in pool {VENDOR_POOLS[key]}"
        )


@pytest.mark.parametrize(
    "op",
    [op for op in OPS if op.pool != "duckdb" and "warehouse" in op.required_resource_keys],
    ids=lambda op: op.name,
)
def test_a_step_outside_duckdb_never_opens_the_warehouse(op: dg.OpDefinition):
    uses = _uses(op, "warehouse")
    assert uses <= JOURNAL, (
        f"{op.name} (pool {op.pool}) uses {sorted(uses - JOURNAL)} of the warehouse: a step "
        "that reads or writes DuckDB belongs in pool duckdb"
    )


@pytest.mark.parametrize(
    "op",
    [op for op in OPS if set(VENDOR_POOLS) & op.required_resource_keys],
    ids=lambda op: op.name,
)
def test_a_vendor_call_runs_in_the_vendors_pool(op: dg.OpDefinition):
    for key in sorted(set(VENDOR_POOLS) & op.required_resource_keys):
        if _uses(op, key) - CONFIGURATION:
            assert op.pool == VENDOR_POOLS[key], (
                f"{op.name} calls {key} in pool {op.pool}, not {VENDOR_POOLS[key]}"
            )
