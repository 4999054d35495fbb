"""`visma_files_sensor` against the sandbox: partitions, one run per file, snapshots newest only."""

import json

import dagster as dg

from p2p_assets.definitions import defs
from p2p_assets.defs.visma.resources import visma_resource_from_env
from p2p_assets.lib import clock as clocks
from p2p_assets_tests.clocks import OffsetClock
from p2p_assets_tests.defs.visma.conftest import materialise

CLOCK = OffsetClock()


def _evaluate(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    """One tick, a poll interval (a minute on the sandbox's continuous plan) after the last."""
    CLOCK.advance(60)
    sensor = defs.resolve_sensor_def("visma_files_sensor")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"visma": visma_resource_from_env()}
    )
    with clocks.using(CLOCK):
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_sensor_requests_each_new_file_once_oldest_first(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={134001: 3, 101002: 3, 101100: 2})
    result = _evaluate(instance)
    requests = result.run_requests or []
    by_type: dict[str, list[dg.RunRequest]] = {}
    for request in requests:
        by_type.setdefault(request.tags["visma/business_type"], []).append(request)
        assert request.run_key == request.partition_key  # the file id
    files = {f["id"]: f for f in sandbox.files()}
    # Every file becomes a partition of its business type's asset.
    added = {
        r.partitions_def_name: set(r.partition_keys) for r in result.dynamic_partitions_requests
    }
    assert {k: len(v) for k, v in added.items()} == {
        "visma_134001_file": 3, "visma_101002_file": 3, "visma_101100_file": 2,
    }  # fmt: skip
    # Payment files and mutations: all, oldest first. Snapshots: the newest only.
    for type_id in ("134001", "101100"):
        dates = [files[r.partition_key]["upload_date"] for r in by_type[type_id]]
        assert dates == sorted(dates) and len(dates) == len(added[f"visma_{type_id}_file"])
    (snapshot,) = by_type["101002"]
    newest = max((f for f in files.values() if f["business_type"] == 101002),
                 key=lambda f: f["upload_date"])  # fmt: skip
    assert snapshot.partition_key == newest["id"]
    assert json.loads(result.cursor or "{}")["available"]["134001"] == 3

    # Materialised files leave the list; the older snapshots are never requested.
    for name, partitions in added.items():
        instance.add_dynamic_partitions(name, sorted(partitions))
    for request in requests:
        assert materialise(instance, int(request.tags["visma/business_type"]),
                           request.partition_key).success  # fmt: skip
    again = _evaluate(instance, result.cursor)
    assert not again.run_requests
    sandbox.deliver(134001, 1)
    (new,) = _evaluate(instance, again.cursor).run_requests or []
    assert new.job_name == "visma_134001_job"
