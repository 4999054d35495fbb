"""A month on Visma's continuous plan within every quota: `benchmarks/visma_month.py` as its own
process (the product configured only by environment variables, before it is imported)."""

from p2p_assets_tests.defs.visma.month import run_month


def test_a_month_on_the_continuous_plan_stays_within_every_quota(data_env, tmp_path):
    month = run_month(tmp_path, "--plan", "continuous")
    assert month["polls"] > 0 and month["runs"] > 0
