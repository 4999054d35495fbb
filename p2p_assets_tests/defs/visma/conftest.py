"""A Visma sandbox app per test, in the state directory the pipeline's in-process sandbox serves
from, so the test can shape it (files, faults) and read its counters while the pipeline runs."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from p2p_assets import settings
from p2p_assets.definitions import defs
from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.fixture
def visma_sandbox(data_env: Path) -> Callable[..., VismaSandbox]:
    """`visma_sandbox(**config)` seeds the sandbox state before the pipeline first serves it."""

    def make(**config: Any) -> VismaSandbox:
        state_dir = settings.sandbox_dir("visma")
        state_dir.mkdir(parents=True, exist_ok=True)
        return VismaSandbox(VismaSandboxConfig(spike_interval_seconds=0, **config), state_dir)

    return make


def materialise(
    instance: dg.DagsterInstance, type_id: int, file_id: str
) -> dg.ExecuteInProcessResult:
    """One partition of one business type, as the sensor's run would do it."""
    from p2p_assets.defs.visma.assets import job_name, partitions_for

    name = partitions_for(type_id).name or ""
    if file_id not in instance.get_dynamic_partitions(name):
        instance.add_dynamic_partitions(name, [file_id])
    return defs.resolve_job_def(job_name(type_id)).execute_in_process(
        instance=instance,
        partition_key=file_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
