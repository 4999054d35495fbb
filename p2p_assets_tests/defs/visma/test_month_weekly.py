"""A month on Visma's weekly plan within every quota: `benchmarks/visma_month.py` as its own
process (the product configured only by environment variables, before it is imported)."""

from p2p_assets_tests.defs.visma.month import run_month


def test_a_month_on_the_weekly_plan_stays_within_every_quota(data_env, tmp_path):
    month = run_month(tmp_path, "--plan", "weekly", "--window", "Mon 06:00-08:00 UTC")
    assert month["polls"] > 0 and month["runs"] > 0
