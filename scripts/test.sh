#!/usr/bin/env bash
# Set everything up, lint, and run the whole test suite (sandboxes over loopback, real DuckDB files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q "$@"
