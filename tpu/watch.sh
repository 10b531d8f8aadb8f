#!/usr/bin/env bash
# Keep a run going on a Spot (preemptible) TPU VM: when the VM is preempted, make a new one and resume.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKPOINTS=""
INTERVAL="${WATCH_INTERVAL:-60}"
MAX_RESTARTS=10
QUEUED=0
ONCE=0
DRY_RUN=0
CREATE_ARGS=()
TRAIN_ARGS=()

usage() {
  cat <<EOF
Usage: tpu/watch.sh [options] --checkpoints gs://BUCKET/PATH [-- create_vm.sh options]

Watch a TPU VM that trains with checkpoint.directory on gs:// (which also keeps a copy of the run's
small files there, in _run/). Every INTERVAL seconds it asks gcloud for the VM's state. When the VM
is PREEMPTED or TERMINATED (a Spot VM taken back) or gone, it deletes what is left, creates a new VM
with tpu/create_vm.sh (the options after '--', e.g. --type v5litepod-8 --spot), installs gemma-jax
with tpu/setup_vm.sh and resumes with tpu/train.sh --resume gs://BUCKET/PATH: the run directory is
rebuilt on the new VM from that copy and training goes on from the last checkpoint. Run it on a
machine that stays up (your workstation, Cloud Shell with tmux, a small always-on VM).

Options (environment variable in brackets):
  --name NAME          TPU VM name [TPU_NAME] (default: gemma-jax)
  --zone ZONE          zone [ZONE] (default: gcloud's compute/zone, else $DEFAULT_ZONE)
  --project ID         Google Cloud project [PROJECT_ID] (default: gcloud's core/project)
  --checkpoints URL    the run's checkpoint.directory (gs://...), required
  --multi-host         resume on every worker of a pod slice (passed to train.sh)
  --queued             the VM is a queued resource (create_vm.sh --queued): SUSPENDED or FAILED
                       means taken back; it is deleted, requested again, and resumed once ACTIVE
  --interval SECONDS   seconds between checks [WATCH_INTERVAL] (default: 60)
  --max-restarts N     give up after N recreations (default: 10)
  --once               check once (and recover if needed), then exit: for cron or a scheduler
  --dry-run            print every gcloud command and script it would run, change nothing
  -h, --help           show this help
EOF
}

while (($#)); do
  common_flag "$@"
  if ((CONSUMED)); then shift "$CONSUMED"; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --checkpoints) CHECKPOINTS="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --multi-host) TRAIN_ARGS+=(--multi-host); shift ;;
    --interval) INTERVAL="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --max-restarts) MAX_RESTARTS="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --once) ONCE=1; shift ;;
    --queued) QUEUED=1; shift ;;
    --) shift; CREATE_ARGS=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ "$CHECKPOINTS" == gs://?* ]] || die "--checkpoints needs the run's gs:// checkpoint.directory, e.g. gs://BUCKET/runs/my-run"
[[ "$INTERVAL" =~ ^[0-9]+$ ]] || die "--interval needs a whole number of seconds, got '$INTERVAL'"
[[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]] || die "--max-restarts needs a whole number, got '$MAX_RESTARTS'"
resolve_project_and_zone

# The flags every helper script gets, so they act on the same VM.
where=(--name "$TPU_NAME" --zone "$ZONE" --project "$PROJECT_ID")

# The VM's state (READY, PREEMPTED, ...), or the queued resource's (ACTIVE, SUSPENDED, ...); NOT_FOUND.
vm_state() {
  local state
  if ((QUEUED)); then
    state="$("$GCLOUD" compute tpus queued-resources describe "$TPU_NAME" --zone="$ZONE" --project="$PROJECT_ID" \
      --format='value(state.state)' 2>/dev/null)" || state="NOT_FOUND"
  else
    state="$("$GCLOUD" compute tpus tpu-vm describe "$TPU_NAME" --zone="$ZONE" --project="$PROJECT_ID" \
      --format='value(state)' 2>/dev/null)" || state="NOT_FOUND"
  fi
  printf '%s' "${state:-NOT_FOUND}"
}

# A queued resource is granted when capacity frees up: wait (checking every INTERVAL s) until it is ACTIVE.
wait_until_active() {
  local state
  while ((QUEUED && !DRY_RUN)); do
    state="$(vm_state)"
    case "$state" in
      ACTIVE) return 0 ;;
      FAILED | SUSPENDED | NOT_FOUND) note "the queued resource is $state while waiting for it"; return 1 ;;
      *) note "waiting for the queued resource ($state)"; sleep "$INTERVAL" ;;
    esac
  done
}

# Under --dry-run the helper scripts get --dry-run too, and print their own gcloud commands and scripts.
dry=()
if ((DRY_RUN)); then
  dry=(--dry-run)
fi
queued=()
if ((QUEUED)); then
  queued=(--queued)
fi

recover() {
  local state="$1"
  note "$TPU_NAME is $state: recreating it and resuming from $CHECKPOINTS"
  if [[ "$state" != "NOT_FOUND" ]]; then
    local delete=("$GCLOUD" compute tpus tpu-vm delete "$TPU_NAME" --zone="$ZONE" --project="$PROJECT_ID" --quiet)
    if ((QUEUED)); then
      delete=("$GCLOUD" compute tpus queued-resources delete "$TPU_NAME" --zone="$ZONE" --project="$PROJECT_ID"
        --force --quiet)
    fi
    if ((DRY_RUN)); then
      printf '%q ' "${delete[@]}"
      echo
    else
      "${delete[@]}" || return 1
    fi
  fi
  bash "$HERE/create_vm.sh" "${where[@]}" "${dry[@]}" "${queued[@]}" "${CREATE_ARGS[@]}" || return 1
  wait_until_active || return 1
  bash "$HERE/setup_vm.sh" "${where[@]}" "${dry[@]}" || return 1
  bash "$HERE/train.sh" "${where[@]}" "${dry[@]}" "${TRAIN_ARGS[@]}" --resume "$CHECKPOINTS" || return 1
}

restarts=0
while true; do
  state="$(vm_state)"
  case "$state" in
    PREEMPTED | TERMINATED | NOT_FOUND | SUSPENDED | FAILED)
      if ((restarts >= MAX_RESTARTS)); then
        die "$TPU_NAME was recreated $restarts times (--max-restarts); stopping. Resume by hand with:
  tpu/watch.sh ${where[*]} --checkpoints $CHECKPOINTS -- ${CREATE_ARGS[*]}"
      fi
      restarts=$((restarts + 1))
      if ! recover "$state"; then
        note "recovery attempt $restarts failed (see above); the next check is in $INTERVAL s"
      fi
      ;;
    *) note "$TPU_NAME is $state" ;;
  esac
  if ((ONCE)); then
    exit 0
  fi
  sleep "$INTERVAL"
done
