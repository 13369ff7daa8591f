#!/usr/bin/env bash
# The scaling study on one host with 2 GPUs (run ON the GPU machine from the repository root, with
# build-gpu/gradcore and the .deps bundle of scripts/gpu-bundle.sh carried along): strong scaling
# (fixed N) at 1, 2, 4 and 8 ranks (4 and 8 ranks share the 2 GPUs, to exercise the communication)
# and weak scaling (fixed N per GPU) at 1 and 2 ranks, for OMP (gmc, D = 128, N = 16M strong,
# 8M per GPU weak) and facility location (craig, N = 4M strong, 2M per GPU weak). Each sweep is
# slurm/scaling.sh --local; slurm/report turns them into CSV, markdown and PNG under $OUT.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore)
source scripts/gpu-env.sh
export GRADCORE_BIN=$PWD/build-gpu/gradcore OMPI_MCA_rmaps_base_oversubscribe=1 OMP_WAIT_POLICY=passive
nvidia-smi -L | tee "$OUT/gpus.txt"
sweep() { # sweep NAME ARGS...
  local name=$1
  shift
  local t0=$SECONDS
  slurm/scaling.sh --local --cpus-per-task 4 --out-dir "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1
  echo "=== $name: rc=$? in $((SECONDS - t0)) s"
}
sweep omp-strong --study strong --methods gmc --ranks 1,2,4,8 --n 16000000 --k 200
sweep omp-weak --study weak --methods gmc --ranks 1,2 --n-per-rank 8000000 --k 200
sweep fl-strong --study strong --methods craig --ranks 1,2,4,8 --n 4000000 --k 2000
sweep fl-weak --study weak --methods craig --ranks 1,2 --n-per-rank 2000000 --k 2000
for s in omp-strong omp-weak fl-strong fl-weak; do
  python3 slurm/report "$OUT/$s" >"$OUT/$s-report.log" 2>&1 || echo "report $s failed: $(tail -3 "$OUT/$s-report.log")"
  cp "$OUT/$s/scaling.md" "$OUT/$s.md" 2>/dev/null
  cp "$OUT/$s/scaling.png" "$OUT/$s.png" 2>/dev/null
  cp "$OUT/$s/scaling.csv" "$OUT/$s.csv" 2>/dev/null
  echo "--- $s"
  cat "$OUT/$s.md" 2>/dev/null
done
