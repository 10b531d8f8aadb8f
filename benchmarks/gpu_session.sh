#!/usr/bin/env bash
# Every issue-17 measurement for a lent GPU, in ONE device call (the session's device time is short).
#
# On the device machine, from the repository root, with the missing wheels carried in .whl/ (how to
# download them: ../shared/gpu/README.md):  bash benchmarks/gpu_session.sh
# A CPU dry run with tiny shapes (checks the script, not the GPU):  DRY_RUN=1 bash benchmarks/gpu_session.sh
#
# Each benchmark runs under its own timeout, so one that overruns still leaves the others' results. Logs and
# summary.jsonl (each benchmark's last-line JSON) go to $OUT (a temporary folder when it is not set).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PY:-python3}
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX and torch share the GPU
if [ "${DRY_RUN:-0}" = 1 ]; then
  BIG=tiny:gemma SMALL=tiny:gemma3 SEQ=64 BATCH_BIG=2 BATCH_SMALL=4 STEPS=2 NEW=8 LIMITS=(300 300 300)
else
  # 500 s in all: a device command may run 600 s (call it with timeout_s 580)
  BIG=random:gemma_2b SMALL=random:gemma3_270m SEQ=1024 BATCH_BIG=8 BATCH_SMALL=16 STEPS=6 NEW=128 LIMITS=(200 150 150)
fi

(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || lscpu) > "$OUT/device.txt" 2>&1
"$PY" -c "import jax; print(jax.devices())" >> "$OUT/device.txt" 2>&1

run() {  # run NAME SECONDS COMMAND...: its log, and its last line into summary.jsonl
  local name=$1 seconds=$2
  shift 2
  local start=$SECONDS
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc in $((SECONDS - start)) s" | tee -a "$OUT/rc.txt"
  tail -n 1 "$OUT/$name.log" | grep '^{' | sed "s/^{/{\"benchmark\": \"$name\", /" >> "$OUT/summary.jsonl"
}

# Training: ours against HF transformers + PEFT, same shape, batch, sequence and dtype (Keras fit() is a CPU peer).
run train_2b "${LIMITS[0]}" "$PY" benchmarks/train_throughput.py --model "$BIG" --dtype bfloat16 \
  --batch-size "$BATCH_BIG" --sequence-length "$SEQ" --steps "$STEPS" --skip keras_fit --skip guide
run train_270m "${LIMITS[1]}" "$PY" benchmarks/train_throughput.py --model "$SMALL" --dtype bfloat16 \
  --batch-size "$BATCH_SMALL" --sequence-length "$SEQ" --steps "$STEPS" --skip keras_fit --skip guide
# Generation at batch 1 and 8 against transformers' generate, with the same weights.
run generate_270m "${LIMITS[2]}" "$PY" benchmarks/generate_batches.py --model "$SMALL" --dtype bfloat16 \
  --batches 1,8 --new-tokens "$NEW"
echo "results in $OUT"
cat "$OUT/summary.jsonl"
