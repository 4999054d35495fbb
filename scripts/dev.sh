#!/usr/bin/env bash
# Set everything up, load what is new (the Basware sandbox unless credentials are set), open the UI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
exec .venv/bin/p2p-assets dev "$@"
