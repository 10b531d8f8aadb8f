#!/usr/bin/env bash
# Forward ports from a TPU VM worker to this machine (TensorBoard, the dashboard).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKER="0"
PORTS=()
TENSORBOARD=0
DASHBOARD=0
TENSORBOARD_PORT="${TENSORBOARD_PORT:-6006}"
DASHBOARD_PORT="${DASHBOARD_PORT:-5006}"
DRY_RUN=0

usage() {
  cat <<EOF
Usage: tpu/tunnel.sh [options]

Open an ssh tunnel to a TPU VM worker so http://localhost:PORT on this machine reaches
localhost:PORT on the VM. Nothing on the VM has to listen on a public address. Runs in the
foreground until Ctrl-C.

Default ports: $TENSORBOARD_PORT (TensorBoard) and $DASHBOARD_PORT (the dashboard, \`gemma-jax ui\`).

Options (environment variable in brackets):
  --name NAME          TPU VM name [TPU_NAME] (default: gemma-jax)
  --zone ZONE          zone [ZONE] (default: gcloud's compute/zone, else $DEFAULT_ZONE)
  --project ID         Google Cloud project [PROJECT_ID] (default: gcloud's core/project)
  --worker W           worker to connect to (default: 0)
  --dir DIR            gemma-jax checkout on the VM [REMOTE_DIR], relative to \$HOME (default: gemma-jax)
  --port PORT          forward this port (repeatable; replaces the defaults)
  --tensorboard        first start TensorBoard on the worker in the background
                       (logdir ~/REMOTE_DIR/runs, port [TENSORBOARD_PORT], localhost only;
                       installed by tpu/setup_vm.sh), unless one is already running
  --dashboard          first start the dashboard on the worker in the background
                       (gemma-jax ui on localhost:[DASHBOARD_PORT], workspace ~/REMOTE_DIR/gemma-jax-workspace;
                       its jobs train on the VM's TPU), unless one is already running
  --dry-run            print the commands instead of running them
  -h, --help           show this help

Example:
  tpu/tunnel.sh --name my-tpu --zone us-west4-a --tensorboard   # then open http://localhost:6006
  tpu/tunnel.sh --name my-tpu --zone us-west4-a --dashboard     # then open http://localhost:5006
EOF
}

valid_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535))
}

while (($#)); do
  common_flag "$@"
  if ((CONSUMED)); then shift "$CONSUMED"; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --worker) WORKER="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --dir) REMOTE_DIR="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --port) PORTS+=("$(flag_value "$1" "$#" "${2-}")"); shift 2 ;;
    --tensorboard) TENSORBOARD=1; shift ;;
    --dashboard) DASHBOARD=1; shift ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ "$WORKER" =~ ^[0-9]+$ ]] || die "--worker must be one worker number for a tunnel, got '$WORKER'"
if ((${#PORTS[@]} == 0)); then
  PORTS=("$TENSORBOARD_PORT" "$DASHBOARD_PORT")
fi
for port in "${PORTS[@]}" "$TENSORBOARD_PORT" "$DASHBOARD_PORT"; do
  valid_port "$port" || die "'$port' is not a port number (1-65535)"
done
resolve_project_and_zone

forwards=()
for port in "${PORTS[@]}"; do
  forwards+=(-L "$port:localhost:$port")
done

tensorboard_script="set -euo pipefail
$(remote_dir_prelude)
$(printf 'port=%q\n' "$TENSORBOARD_PORT")"
# shellcheck disable=SC2016  # expanded on the worker, not here
tensorboard_script+='
cd "$dir"
[ -x .venv/bin/tensorboard ] || { echo "no TensorBoard in $dir/.venv; run tpu/setup_vm.sh (without --no-tensorboard)" >&2; exit 1; }
if pgrep -u "$(id -u)" -f "tensorboard.*--port[= ]$port" >/dev/null; then
  echo "$(hostname): TensorBoard already running on port $port"
else
  mkdir -p runs logs
  setsid nohup .venv/bin/tensorboard --logdir runs --host localhost --port "$port" \
    >logs/tensorboard.log 2>&1 </dev/null &
  echo "$(hostname): TensorBoard started on port $port (log: $dir/logs/tensorboard.log)"
fi'

dashboard_script="set -euo pipefail
$(remote_dir_prelude)
$(printf 'port=%q\n' "$DASHBOARD_PORT")"
# shellcheck disable=SC2016  # expanded on the worker, not here
dashboard_script+='
cd "$dir"
[ -x .venv/bin/gemma-jax ] || { echo "no gemma-jax in $dir/.venv; run tpu/setup_vm.sh first" >&2; exit 1; }
if pgrep -u "$(id -u)" -f "gemma-jax ui.*--port $port" >/dev/null; then
  echo "$(hostname): the dashboard is already running on port $port"
else
  mkdir -p logs
  setsid nohup .venv/bin/gemma-jax ui --no-show --address 127.0.0.1 --port "$port" \
    --runs-dir gemma-jax-workspace >logs/dashboard.log 2>&1 </dev/null &
  echo "$(hostname): dashboard started on port $port (log: $dir/logs/dashboard.log)"
fi'

if ((DRY_RUN)); then
  if ((TENSORBOARD)); then
    echo "# on worker $WORKER, run:"
    printf '%s\n' "$tensorboard_script"
  fi
  if ((DASHBOARD)); then
    echo "# on worker $WORKER, run:"
    printf '%s\n' "$dashboard_script"
  fi
  printf '%q ' "$GCLOUD" compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --project="$PROJECT_ID" \
    --worker="$WORKER" -- -N "${forwards[@]}"
  echo
  exit 0
fi

if ((TENSORBOARD)); then
  run_remote "$WORKER" "$tensorboard_script"
fi
if ((DASHBOARD)); then
  run_remote "$WORKER" "$dashboard_script"
fi
for port in "${PORTS[@]}"; do
  note "forwarding http://localhost:$port -> $TPU_NAME worker $WORKER port $port"
done
note "Ctrl-C closes the tunnel (runs, TensorBoard and the dashboard on the VM keep going)"
tpu_ssh --worker="$WORKER" -- -N "${forwards[@]}"
