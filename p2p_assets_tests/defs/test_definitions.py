"""The code location loads as `dg check defs` loads it: every asset, check, job and sensor."""

import dagster as dg

from p2p_assets.definitions import defs
from p2p_assets.lib.basware.tables import ALL_TABLES, REFERENCES


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
    assert len(checks) == len(ALL_TABLES) + len(REFERENCES)
    job = defs.resolve_job_def("basware_extract_job")
    assert job.partitions_def is not None
    assert job.partitions_def.name == "basware_extract"
    sensor = defs.resolve_sensor_def("basware_extracts_sensor")
    assert sensor.job_name == "basware_extract_job"
    assert set(repository.get_top_level_resources()) >= {"basware", "warehouse"}
