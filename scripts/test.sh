#!/usr/bin/env bash
# Set up, then run the whole test suite (the slow end-to-end and browser tests included) on two
# workers, a test file per worker at a time (module fixtures are built once); PYTEST_WORKERS=0 runs
# it in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_packages.sh
# --no-loadscope-reorder: keep the slow-files-first order of tests/conftest.py (xdist otherwise sorts files
# by test count, which left the 6-minute real-model test running alone at the end).
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
