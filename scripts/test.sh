#!/usr/bin/env bash
# Set everything up, lint, and run the whole test suite (sandboxes over loopback, real DuckDB files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# One worker per core (xdist), the tests spread over them one by one, except the files whose
# costly module fixture their tests share (marked xdist_group); pass e.g. `-n 0` to run in this
# process only.
exec .venv/bin/python -m pytest -q -n auto --dist loadgroup "$@"
