"""Resources shared by every vendor folder, configured from the environment.

Dagster resolves each resource's `EnvVar`s when it hands the resource to an asset or a sensor.
Code outside a run (`p2p-assets sync`, the CLI, benchmarks) takes the same resources from
`configured()`, resolved the same way, so there is one way to a vendor client: `get_client()` on
a resolved resource.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from p2p_assets.defs.basware.resources import basware_resource_from_env
from p2p_assets.defs.boss_insights.resources import boss_insights_resource_from_env
from p2p_assets.defs.marts.project import dbt_resource
from p2p_assets.defs.visma.resources import visma_resource_from_env
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.workspace365.resources import workspace365_resource_from_env

FROM_ENV: dict[str, Callable[[], dg.ConfigurableResource]] = {
    "basware": basware_resource_from_env,
    "boss_insights": boss_insights_resource_from_env,
    "dbt": dbt_resource,
    "visma": visma_resource_from_env,
    "warehouse": DuckDBWarehouse,
    "workspace365": workspace365_resource_from_env,
}


def configured(key: str) -> Any:
    """Resource `key` as the environment configures it, its `EnvVar`s resolved as in a run."""
    return FROM_ENV[key]().process_config_and_initialize()


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={key: build() for key, build in FROM_ENV.items()})
