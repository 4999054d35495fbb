"""A sandbox tenant per test, served over loopback HTTP, with the pipeline pointed at it."""

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from p2p_assets_tests.defs.basware.helpers import Tenant, serving, small_config


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance: a run costs ~40 % less than with `dg.instance_for_test()`'s
    sqlite files. test_concurrency uses a sqlite instance in a DAGSTER_HOME, shared by processes."""
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.fixture
def serve_tenant(data_env: Path, instance: dg.DagsterInstance) -> Iterator[Callable[..., Tenant]]:
    """`serve_tenant(**config)` serves a small sandbox tenant (see `small_config`) for the test."""
    with contextlib.ExitStack() as stack:

        def serve(**config: Any) -> Tenant:
            state_dir = data_env / "basware-state"
            return stack.enter_context(serving(small_config(**config), state_dir, instance))

        yield serve
