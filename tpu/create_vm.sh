#!/usr/bin/env bash
# Create a Cloud TPU VM (or pod slice) for gemma-jax.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-v5litepod-8}"
RUNTIME_VERSION="${RUNTIME_VERSION:-}"
SPOT=0
QUEUED=0
DRY_RUN=0
EXTRA=()

usage() {
  cat <<EOF
Usage: tpu/create_vm.sh [options] [-- extra gcloud flags]

Create a Cloud TPU VM with 'gcloud compute tpus tpu-vm create'.

Options (environment variable in brackets):
  --name NAME              TPU VM name [TPU_NAME] (default: gemma-jax)
  --zone ZONE              zone [ZONE] (default: gcloud's compute/zone, else $DEFAULT_ZONE)
  --project ID             Google Cloud project [PROJECT_ID] (default: gcloud's core/project)
  --type TYPE              accelerator type [ACCELERATOR_TYPE] (default: v5litepod-8),
                           e.g. v5litepod-8, v6e-8, v4-8, v5p-8; types with more chips than
                           one host holds (v5litepod-16, v4-16, ...) are multi-host pod slices
  --version VERSION        TPU runtime (software) version [RUNTIME_VERSION]; default by type:
                           v5litepod/v5e: v2-alpha-tpuv5-lite, v5p: v2-alpha-tpuv5,
                           v6e: v2-alpha-tpuv6e, others: tpu-ubuntu2204-base
  --spot                   create a Spot VM (cheaper, can be preempted)
  --queued                 ask for it as a queued resource (gcloud compute tpus queued-resources
                           create): granted when capacity frees up, the usual way to get large
                           or Spot TPUs; the VM appears once its state is ACTIVE
  --dry-run                print the gcloud command instead of running it
  -h, --help               show this help

Anything after '--' is passed to gcloud unchanged (e.g. -- --network=my-net).

Example:
  tpu/create_vm.sh --project my-project --zone us-west4-a --type v5litepod-8
EOF
}

while (($#)); do
  common_flag "$@"
  if ((CONSUMED)); then shift "$CONSUMED"; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --type | --accelerator-type) ACCELERATOR_TYPE="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --version | --runtime-version) RUNTIME_VERSION="$(flag_value "$1" "$#" "${2-}")"; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --queued) QUEUED=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

default_runtime() {
  case "$1" in
    v5litepod-* | v5e-*) echo "v2-alpha-tpuv5-lite" ;;
    v5p-*) echo "v2-alpha-tpuv5" ;;
    v6e-*) echo "v2-alpha-tpuv6e" ;;
    *) echo "tpu-ubuntu2204-base" ;;
  esac
}

RUNTIME_VERSION="${RUNTIME_VERSION:-$(default_runtime "$ACCELERATOR_TYPE")}"
resolve_project_and_zone

if ((QUEUED)); then
  create_cmd=(
    "$GCLOUD" compute tpus queued-resources create "$TPU_NAME"
    --node-id="$TPU_NAME"
    --zone="$ZONE"
    --project="$PROJECT_ID"
    --accelerator-type="$ACCELERATOR_TYPE"
    --runtime-version="$RUNTIME_VERSION"
  )
else
  create_cmd=(
    "$GCLOUD" compute tpus tpu-vm create "$TPU_NAME"
    --zone="$ZONE"
    --project="$PROJECT_ID"
    --accelerator-type="$ACCELERATOR_TYPE"
    --version="$RUNTIME_VERSION"
  )
fi
if ((SPOT)); then
  create_cmd+=(--spot)
fi
create_cmd+=("${EXTRA[@]}")

if ((DRY_RUN)); then
  printf '%q ' "${create_cmd[@]}"
  echo
  exit 0
fi

note "creating TPU VM '$TPU_NAME' ($ACCELERATOR_TYPE, runtime $RUNTIME_VERSION) in $ZONE, project $PROJECT_ID"
"${create_cmd[@]}"
if ((QUEUED)); then
  cat <<EOF

Queued resource '$TPU_NAME' requested; the VM exists once its state is ACTIVE:
  gcloud compute tpus queued-resources describe $TPU_NAME --zone=$ZONE --project=$PROJECT_ID
Then set it up and train as below (tpu/watch.sh --queued waits for ACTIVE itself).
EOF
fi
cat <<EOF

TPU VM '$TPU_NAME' is ready. Next:
  tpu/setup_vm.sh --name $TPU_NAME --zone $ZONE --project $PROJECT_ID
  tpu/train.sh    --name $TPU_NAME --zone $ZONE --project $PROJECT_ID CONFIG.yaml
Delete it when done (it is billed while it exists):
  gcloud compute tpus tpu-vm delete $TPU_NAME --zone=$ZONE --project=$PROJECT_ID
EOF
