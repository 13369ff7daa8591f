#!/usr/bin/env bash
# BiCo on one GPU. Prepare here with GPU_TARGETS="gradcore bench_bico test_bico_cuda" scripts/gpu-bundle.sh,
# carry build-gpu/{gradcore,bench_bico,tests/gpu/test_bico_cuda}, .deps/debs and .deps/fallback-debs,
# and run this ON the GPU machine from the repository root: the CUDA-vs-CPU test of the Nyström
# features and the scorer, bench_bico (time per selection round against N and q) on the GPU and,
# at smaller N, on that host's CPU, and a 1-rank `select --method bico --device cuda`.
# Results: $OUT/bico-*; the lead copies them to bench/results/.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_bico build-gpu/tests/gpu/test_bico_cuda)
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem --format=csv | tee "$OUT/bico-gpu.txt"
echo "=== test_bico_cuda"
build-gpu/tests/gpu/test_bico_cuda 2>&1 | tee -a "$OUT/bico-gpu.txt"; echo "rc=${PIPESTATUS[0]}" | tee -a "$OUT/bico-gpu.txt"
echo "=== bench_bico --device cuda"
"${mpirun[@]}" ${mpirun:+-np 1} build-gpu/bench_bico --device cuda "$@" | tee "$OUT/bico-h200.jsonl"
echo "=== bench_bico --device cpu ($(nproc) cores)"
OMP_WAIT_POLICY=passive "${mpirun[@]}" ${mpirun:+-np 1} build-gpu/bench_bico --device cpu | tee "$OUT/bico-h200-cpu.jsonl"
echo "=== select --method bico --device cuda, 1 rank"
"${mpirun[@]}" ${mpirun:+-np 1} build-gpu/gradcore select --device cuda --data synthetic:n=1000000,d=32,classes=10,seed=1 \
  --method bico --k 200 --batch 10 --out /tmp/bico-select.h5 2>&1 | tee "$OUT/bico-select.txt"
