"""One of several processes running Basware partitions at the same time (see test_concurrency).

`python -m p2p_assets_tests.defs.basware.concurrent_worker API_URL EXTRACT_ID...` runs each extract
with the Dagster instance of `DAGSTER_HOME` and the warehouse of `P2P_WAREHOUSE`, and prints one
JSON line per run.
"""

import json
import sys

import dagster as dg

from p2p_assets.defs.basware.resources import BaswareResource
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets_tests.defs.basware.helpers import PIPELINE_ASSETS, failure_text


def main(api_url: str, extract_ids: list[str]) -> None:
    resources = {
        "basware": BaswareResource(
            api_url=api_url, client_id="sandbox-client", client_secret="sandbox-secret"
        ),
        "warehouse": DuckDBWarehouse(),
    }
    with dg.DagsterInstance.get() as instance:
        for extract_id in extract_ids:
            result = dg.materialize(
                PIPELINE_ASSETS,
                instance=instance,
                partition_key=extract_id,
                resources=resources,
                raise_on_error=False,
                tags={"test/worker": str(sys.argv[0])},
            )
            line = {
                "extract_id": extract_id,
                "run_id": result.run_id,
                "success": result.success,
                "failure": failure_text(result),
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
