#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv 2>/dev/null || true
if [ ! -x .venv/bin/python ]; then
  rm -rf .venv && python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
