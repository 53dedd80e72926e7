#!/usr/bin/env bash
# The fused attention kernel on a GPU in one call: install, tune, check, benchmark, profile.
#
#   bash benchmarks/gpu_check.sh OUT_DIR [DEADLINE_S] [STAGES]
#
# STAGES is a comma-separated list from: tune, check, quick, e2e, profile, grid, tune-rest
# (default: tune,check,quick,e2e,profile,grid). Each stage gets at most its own limit and never runs
# past DEADLINE_S (default 410) seconds from the start, so that the call ends inside the device
# tool's time limit. Everything goes to OUT_DIR as it is measured, so a stage that is cut off keeps
# what it finished:
#
#   log.txt                  every stage's output
#   attention_sm_XX.json     the tuned launch configurations (commit as mmzoo/ops/tuned/)
#   check.jsonl              correctness of every dtype, head dim and mask kind (tuned configurations)
#   attention_results.json   the benchmark's rows and end-to-end figures (pass back to continue)
#   performance.md           docs/performance.md as the benchmark rewrote it
#   profile.txt              the PyTorch profiler's kernel times, fused kernel against SDPA
#
# Where OUT_DIR already holds attention_results.json or a tuned file (carried back from an earlier
# call), the benchmark continues from its rows and the tuner updates the file.
#
# SMOKE=1 runs every stage on the CPU with the Triton interpreter and tiny shapes: it checks the
# script and the tools it calls, not the GPU.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [DEADLINE_S] [STAGES]}
DEADLINE=${2:-410}
STAGES=${3:-tune,check,quick,e2e,profile,grid}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/log.txt
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

log() { echo "[${SECONDS}s] $*" | tee -a "$LOG"; }

# stage NAME LIMIT_S COMMAND...: run COMMAND if NAME is asked for, within LIMIT_S and the deadline.
stage() {
  local name=$1 limit=$2
  shift 2
  [[ ",$STAGES," == *",$name,"* ]] || return 0
  local left=$((DEADLINE - SECONDS))
  if ((left < 20)); then
    log "skip $name: ${left}s left"
    return 0
  fi
  ((limit > left)) && limit=$left
  log "start $name (limit ${limit}s)"
  timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  pkill -f "multiprocessing.spawn" 2>/dev/null  # compile workers of a stage that was cut off
  log "end $name: exit $rc"
}

if [[ ${SMOKE:-0} == 1 ]]; then
  export TRITON_INTERPRET=1
  DEVICE=cpu
  TUNE=(--device cpu --buckets 32 --tokens 64 --heads 1 --max-candidates 2)
  FIRST_DIMS=(16)
  REST_DIMS=(32)
  CHECK=(--device cpu --quick --head-dims 16 32)
  GRID=(--device cpu --head-dims 16 --seq-lens 32 --tokens 64 --heads 1 --repeats 1 --flex eager)
  # The fused leg cannot finish in the interpreter within the stage's limit (the recipe's real lengths);
  # the SDPA leg checks the plumbing, tests/ops/test_fused_attention.py the kernel inside a fusion.
  E2E=(--e2e-steps 1 --e2e-warmup 1 --e2e-rounds 1 --e2e-override data.batch_size=2)
  PROFILE=(--device cpu --head-dims 16 --seq-len 32 --tokens 64 --heads 1 --repeats 1)
  PAGE=$OUT/performance.md
  ARCH=cpu-interpreter
else
  DEVICE=cuda
  TUNE=()
  FIRST_DIMS=(64 128)  # the targets' head dims
  REST_DIMS=(32 16)  # 32 first: the speech QC recipe's cross-attention
  CHECK=()
  GRID=(--device cuda)
  E2E=(--e2e-rounds 1 --e2e-steps 20 --e2e-warmup 5 --e2e-variant ""
    --e2e-variant "model.fusion={name: joint_transformer, dim: 256, heads: 4, layers: 4};data.batch_size=32")
  PROFILE=()
  PAGE=docs/performance.md
  [[ -f $OUT/performance.md ]] && cp "$OUT/performance.md" "$PAGE"  # continue the page of an earlier call
  ARCH=$(python3 -c 'import torch; print("sm_%d%d" % torch.cuda.get_device_capability())')
fi
TUNED=$OUT/attention_$ARCH.json

log "setup"
if [[ -d .whl ]] && ls .whl/*.whl >/dev/null 2>&1 && [[ ${SMOKE:-0} != 1 ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 && export PYTHONPATH=/tmp/site
fi
if [[ ${SMOKE:-0} != 1 ]]; then
  python3 -m pip install -q --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 || log "pip install -e . failed"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv >>"$LOG" 2>&1
fi
python3 -c 'import sys, torch, triton; print("python", sys.version.split()[0], "torch", torch.__version__,
  "triton", triton.__version__, "cuda", torch.version.cuda)' 2>&1 | tee -a "$LOG"

stage tune 90 python3 benchmarks/attention_tune.py "${TUNE[@]}" --jobs "$JOBS" --budget-s 60 --update \
  --head-dims "${FIRST_DIMS[@]}" --output "$TUNED"
stage tune-rest 40 python3 benchmarks/attention_tune.py "${TUNE[@]}" --jobs "$JOBS" --update \
  --head-dims "${REST_DIMS[@]}" --output "$TUNED"
[[ -f $TUNED ]] && export MMZOO_ATTENTION_TUNED=$TUNED  # every later stage runs the tuned configurations
stage check 60 python3 benchmarks/attention_check.py "${CHECK[@]}" --jobs "$JOBS" --output "$OUT/check.jsonl"
stage quick 90 python3 benchmarks/attention.py "${GRID[@]}" --quick --results "$OUT/attention_results.json" \
  --output "$PAGE"
stage e2e 100 python3 benchmarks/attention.py "${GRID[@]}" --quick --no-grid --end-to-end "${E2E[@]}" \
  --results "$OUT/attention_results.json" --output "$PAGE"
stage profile 20 python3 benchmarks/attention_profile.py "${PROFILE[@]}" --output "$OUT/profile.txt"
stage grid 600 python3 benchmarks/attention.py "${GRID[@]}" --results "$OUT/attention_results.json" --output "$PAGE"
[[ $PAGE != "$OUT/performance.md" && -f $PAGE ]] && cp "$PAGE" "$OUT/performance.md"

log "done"
# The reply carries the end of the output: the figures that matter most, last.
grep -E "^d[0-9]+ seg=|budget|compiled" "$LOG" | tail -40
grep -E "cases passed|^FAILED" "$LOG" | tail -12
sed -n '/^## Targets/,/^FlashAttention-2 reference/p' "$OUT/performance.md" 2>/dev/null | head -30
grep -E "end to end|Error|error:" "$LOG" | tail -12
log "finished"
