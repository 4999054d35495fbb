"""The sensor registers every extract as a partition and asks for one run per waiting extract."""

import json

import dagster as dg

from p2p_assets.defs.basware.sensors import basware_extracts_sensor
from p2p_assets_tests.defs.basware.helpers import PARTITIONS, Tenant


def _evaluate(tenant: Tenant, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=tenant.instance, cursor=cursor, resources={"basware": tenant.basware}
    )
    result = basware_extracts_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _cursor(waiting: int, newest: str | None) -> str:
    """The sensor asks for the extracts waiting for export only (`processingStatus`)."""
    return json.dumps({"waiting": waiting, "refused": 0, "newest": newest})


def test_sensor_requests_one_run_per_waiting_extract_in_order(serve_tenant):
    tenant = serve_tenant(initial_deltas=2)
    ids = [tenant.sandbox.extract_id(i) for i in range(3)]

    first = _evaluate(tenant, None)
    assert [(r.run_key, r.partition_key) for r in first.run_requests] == [(i, i) for i in ids]
    assert [r.tags["basware/extract_type"] for r in first.run_requests] == [
        "Initial",
        "Delta",
        "Delta",
    ]
    assert first.dynamic_partitions_requests == [
        dg.AddDynamicPartitionsRequest(partitions_def_name=PARTITIONS, partition_keys=ids)
    ]
    assert first.cursor == _cursor(3, ids[-1])
    assert first.skip_reason is None

    # The daemon applies the partition request; then nothing is new, but all still wait.
    tenant.instance.add_dynamic_partitions(PARTITIONS, ids)
    second = _evaluate(tenant, first.cursor)
    assert [r.run_key for r in second.run_requests] == ids
    assert second.dynamic_partitions_requests == []

    with tenant.basware.get_client() as client:
        for extract_id in ids:
            client.acknowledge(extract_id)
    acknowledged = _evaluate(tenant, second.cursor)
    assert acknowledged.run_requests == []
    assert acknowledged.dynamic_partitions_requests == []
    assert acknowledged.cursor == _cursor(0, None)
    assert acknowledged.skip_reason

    published = tenant.sandbox.publish_delta()
    assert published is not None
    new = _evaluate(tenant, acknowledged.cursor)
    assert [(r.run_key, r.partition_key) for r in new.run_requests] == [(published["id"],) * 2]
    assert new.dynamic_partitions_requests == [
        dg.AddDynamicPartitionsRequest(
            partitions_def_name=PARTITIONS, partition_keys=[published["id"]]
        )
    ]
    assert new.cursor == _cursor(1, published["id"])
