#!/usr/bin/env bash
# Set up, then run the main job: the dashboard, with the built-in Gemma 3 270M and the packaged
# example data ready to fine-tune (New run → Start). Extra arguments go to `gemma-jax ui`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gemma-jax ui "$@"
