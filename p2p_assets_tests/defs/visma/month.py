"""Running `benchmarks/visma_month.py` for a test: its own process, a clean environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

from p2p_assets_tests.conftest import vendor_variables

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "visma_month.py"


def run_month(tmp_path: Path, *args: str) -> dict:
    """Simulate the month; every figure must PASS (exit 0). Returns the script's summary."""
    env = {k: v for k, v in os.environ.items() if k not in vendor_variables()}
    env.pop("P2P_SANDBOX_VISMA_SPIKE_ARREST_SECONDS", None)  # the vendor's spike arrest, on
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--work-dir", str(tmp_path / "month")],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    figures = [line for line in result.stdout.splitlines() if line.endswith(("PASS", "MISS"))]
    assert result.returncode == 0 and figures, result.stdout[-3000:] + result.stderr[-3000:]
    assert not [line for line in figures if line.endswith("MISS")], figures
    (summary,) = [line for line in result.stdout.splitlines() if line.startswith("month: ")]
    return json.loads(summary.removeprefix("month: "))
