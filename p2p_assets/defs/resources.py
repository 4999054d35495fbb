"""Resources shared by every vendor folder, configured from the environment."""

import dagster as dg

from p2p_assets.defs.basware.resources import basware_resource_from_env
from p2p_assets.defs.boss_insights.resources import boss_insights_resource_from_env
from p2p_assets.defs.visma.resources import visma_resource_from_env
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.defs.workspace365.resources import workspace365_resource_from_env


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "basware": basware_resource_from_env(),
            "boss_insights": boss_insights_resource_from_env(),
            "visma": visma_resource_from_env(),
            "warehouse": DuckDBWarehouse(),
            "workspace365": workspace365_resource_from_env(),
        }
    )
