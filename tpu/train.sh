#!/usr/bin/env bash
# Launch `gemma-jax train` on the TPU VM's workers in the background, logging to a file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKER="all"
RUN_ID=""
RESUME=""
CONFIG=""
SETS=()
MULTI_HOST=0
FOLLOW=0
WAIT_SECONDS="${WAIT_SECONDS:-30}"
DRY_RUN=0

usage() {
  cat <<EOF
Usage: tpu/train.sh [options] CONFIG.yaml
       tpu/train.sh [options] --resume RUN_DIR

Copy CONFIG.yaml to the workers and start 'gemma-jax train' there with nohup, detached
from the ssh session, so closing your terminal does not stop it. Output goes to
~/REMOTE_DIR/logs/RUN_ID.log on each worker; the run directory is ~/REMOTE_DIR/runs/RUN_ID
(with the config's default runs_dir). The script waits WAIT_SECONDS for the process to get
going and prints the log's tail if it dies early.

Options (environment variable in brackets):
  --name NAME          TPU VM name [TPU_NAME] (default: gemma-jax)
  --zone ZONE          zone [ZONE] (default: gcloud's compute/zone, else $DEFAULT_ZONE)
  --project ID         Google Cloud project [PROJECT_ID] (default: gcloud's core/project)
  --worker W           worker(s) to launch on: all, 0, 0,1,... (default: all)
  --dir DIR            gemma-jax checkout on the VM [REMOTE_DIR], relative to \$HOME (default: gemma-jax)
  --run-id ID          run directory name (default: <config file name>-<UTC time>); the same
                       name is used on every worker
  --set KEY=VALUE      config override passed to gemma-jax train (repeatable),
                       e.g. --set train.max_steps=500 --set optimizer.learning_rate=1e-4
  --resume RUN_DIR     continue a stopped or crashed run instead (a path on the VM, relative
                       to ~/REMOTE_DIR, e.g. runs/my-run-20250101-120000; or the run's gs://
                       checkpoint.directory, whose _run/ copy rebuilds the run directory on a
                       new VM: what tpu/watch.sh does after a preemption)
  --multi-host         launch on a slice with more than one worker (see tpu/README.md): every
                       worker gets JAX_COORDINATOR_ADDRESS=<worker 0>:8476 and runs the command
                       'gemma-jax launch' runs on one machine; give checkpoint.directory a gs://
                       path all workers share
  --wait SECONDS       how long to watch for an early failure [WAIT_SECONDS] (default: 30; 0: don't)
  --follow             tail -f worker 0's log after launching (Ctrl-C stops the tail, not the run)
  --dry-run            print what would run on the workers, change nothing
  -h, --help           show this help

Afterwards, on the VM (gcloud compute tpus tpu-vm ssh NAME --zone ZONE --worker 0):
  cd ~/gemma-jax && .venv/bin/gemma-jax runs                       # list runs and their state
  .venv/bin/gemma-jax control runs/RUN_ID pause|resume|save|abort  # abort saves a checkpoint first
EOF
}

while (($#)); do
  common_flag "$@"
  if ((CONSUMED)); then shift "$CONSUMED"; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --worker) WORKER="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --dir) REMOTE_DIR="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --run-id) RUN_ID="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --set) SETS+=("$(flag_value "$1" "$#" "${2-}")"); shift 2 ;;
    --resume) RESUME="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --multi-host) MULTI_HOST=1; shift ;;
    --wait) WAIT_SECONDS="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --follow) FOLLOW=1; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z "$CONFIG" ]] || die "one CONFIG.yaml only; got '$CONFIG' and '$1'"
      CONFIG="$1"
      shift
      ;;
  esac
done

[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "--wait needs a whole number of seconds, got '$WAIT_SECONDS'"
if [[ -n "$RESUME" ]]; then
  [[ -z "$CONFIG" ]] || die "give CONFIG.yaml or --resume RUN_DIR, not both"
  ((${#SETS[@]} == 0)) || die "--set cannot change a resumed run; its config.yaml is fixed"
  [[ -z "$RUN_ID" ]] || die "--run-id is for new runs; --resume names the run directory"
  LOG_NAME="resume-$(basename "$RESUME")-$(date -u +%Y%m%d-%H%M%S)"
  RUN_DIR_HINT="$RESUME"
else
  [[ -n "$CONFIG" ]] || die "give a CONFIG.yaml (write one with: gemma-jax init-config my.yaml) or --resume RUN_DIR"
  [[ -f "$CONFIG" ]] || die "config file '$CONFIG' not found"
  if [[ -z "$RUN_ID" ]]; then
    stem="$(basename "$CONFIG")"
    stem="${stem%.*}"
    RUN_ID="${stem//[^A-Za-z0-9._-]/-}-$(date -u +%Y%m%d-%H%M%S)"
  fi
  [[ "$RUN_ID" =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ ]] ||
    die "--run-id '$RUN_ID' must be a plain folder name (letters, digits, '.', '_', '-')"
  LOG_NAME="$RUN_ID"
  RUN_DIR_HINT="runs/$RUN_ID"
fi
resolve_project_and_zone

coordinator=""
if ((MULTI_HOST)); then
  [[ "$WORKER" == "all" ]] || die "--multi-host starts one process per worker, so it needs --worker all"
  if ((!DRY_RUN)); then
    address="$(tpu_worker0_address)"
    [[ -n "$address" ]] || die "could not read worker 0's address with 'gcloud compute tpus tpu-vm describe $TPU_NAME'"
    coordinator="$address:8476"
  else
    coordinator="WORKER0_IP:8476"
  fi
  if ! grep -q "gs://" "${CONFIG:-/dev/null}" && [[ "${SETS[*]-}" != *gs://* ]]; then
    note "warning: multi-host checkpoints need a directory every worker can reach; \
set checkpoint.directory to a gs:// path (e.g. --set checkpoint.directory=gs://BUCKET/RUN)"
  fi
elif [[ "$WORKER" == "all" ]] && ((!DRY_RUN)); then
  workers="$(tpu_worker_count)"
  if [[ "$workers" =~ ^[0-9]+$ ]] && ((workers > 1)); then
    die "$TPU_NAME has $workers workers (a multi-host pod slice). Pass --multi-host to train \
on every worker (with checkpoint.directory on gs://; see tpu/README.md, 'Known gaps'), use --worker 0 to train \
on one host, or use a single-host type such as v5litepod-8."
  fi
fi

# --- the command each worker runs ---------------------------------------------------------------
remote_config="configs/$RUN_ID.yaml"
staged="" # the config's name in the workers' $HOME until it is moved into the checkout
if [[ -z "$RESUME" ]]; then
  staged="gemma-jax-$RUN_ID.yaml"
fi
train_args=(train)
if [[ -n "$RESUME" ]]; then
  train_args+=(--resume "$RESUME")
else
  train_args+=("$remote_config" --run-id "$RUN_ID")
  for item in "${SETS[@]}"; do
    train_args+=(--set "$item")
  done
fi
train_args+=(--no-progress)

script="set -euo pipefail
$(remote_dir_prelude)
$(printf 'log_name=%q\nwait_seconds=%q\nstaged=%q\nremote_config=%q\ncoordinator=%q\n' \
  "$LOG_NAME" "$WAIT_SECONDS" "$staged" "$remote_config" "$coordinator")
$(printf 'train_args=(%s)\n' "$(printf '%q ' "${train_args[@]}")")"
# shellcheck disable=SC2016  # expanded on the worker, not here
script+='
cd "$dir"
[ -x .venv/bin/gemma-jax ] || { echo "$(hostname): no gemma-jax in $dir/.venv; run tpu/setup_vm.sh first" >&2; exit 1; }
mkdir -p logs configs
if [ -n "$staged" ]; then mv "$HOME/$staged" "$remote_config"; fi
log="logs/$log_name.log"
if [ -n "$coordinator" ]; then export JAX_COORDINATOR_ADDRESS="$coordinator"; fi
PYTHONUNBUFFERED=1 setsid nohup .venv/bin/gemma-jax "${train_args[@]}" >"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"logs/$log_name.pid"
for _ in $(seq 1 "$wait_seconds"); do
  if ! kill -0 "$pid" 2>/dev/null; then
    if wait "$pid"; then
      echo "$(hostname): gemma-jax train already finished; log: $dir/$log"
      exit 0
    fi
    echo "$(hostname): gemma-jax train exited early; the end of $dir/$log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sleep 1
done
echo "$(hostname): training (pid $pid); log: $dir/$log"'

if ((DRY_RUN)); then
  [[ -z "$staged" ]] || echo "# copy $CONFIG to workers $WORKER as ~/$staged, then run:"
  printf '%s\n' "$script"
  exit 0
fi

if [[ -z "$RESUME" ]]; then
  note "copying $CONFIG to workers $WORKER of $TPU_NAME"
  tpu_scp "$CONFIG" "$TPU_NAME:$staged" --worker="$WORKER"
fi
note "starting $RUN_DIR_HINT on workers $WORKER of $TPU_NAME"
run_remote "$WORKER" "$script"

log_path="$REMOTE_DIR/logs/$LOG_NAME.log"
cat <<EOF

Started $RUN_DIR_HINT. Follow it with:
  gcloud compute tpus tpu-vm ssh $TPU_NAME --zone=$ZONE --project=$PROJECT_ID --worker=0 --command='tail -f $log_path'
Stop it (a checkpoint is saved first):
  gcloud compute tpus tpu-vm ssh $TPU_NAME --zone=$ZONE --project=$PROJECT_ID --worker=0 \\
    --command='cd $REMOTE_DIR && .venv/bin/gemma-jax control $RUN_DIR_HINT abort'
TensorBoard: tpu/tunnel.sh --name $TPU_NAME --zone $ZONE --project $PROJECT_ID --tensorboard
EOF
if ((FOLLOW)); then
  tpu_ssh --worker=0 --command="tail -n +1 -f $(printf '%q' "$log_path")"
fi
