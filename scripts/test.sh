#!/usr/bin/env bash
# Set up, then run the whole test suite (the slow end-to-end and browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_packages.sh
exec .venv/bin/python -m pytest "$@"
