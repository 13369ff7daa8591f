#!/usr/bin/env bash
# OMP on one GPU. Prepare here with GPU_TARGETS="gradcore bench_omp test_omp_cuda" scripts/gpu-bundle.sh,
# carry build-gpu/{gradcore,bench_omp,tests/gpu/test_omp_cuda}, .deps/debs and .deps/fallback-debs,
# and run this ON the GPU machine from the repository root: the CUDA-vs-CPU scoring test, bench_omp
# for n = 4M, D = 128 and n = 1M, D = 256 (k = 200) on the GPU next to the plain PyTorch OMP on the
# same GPU, with 8 atoms per pass, and on this host's CPU at smaller n; then a 1-rank
# `select --selector omp --device cuda`, which scores on the GPU once the CUDA backend lists the
# omp_* ops (else its log says "scoring on the CPU").
# Results: $OUT/omp-*; the lead copies them to bench/results/.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_omp build-gpu/tests/gpu/test_omp_cuda)
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem --format=csv | tee "$OUT/omp-gpu.txt"
echo "=== test_omp_cuda"
build-gpu/tests/gpu/test_omp_cuda; echo "rc=$?"
echo "=== bench_omp --device cuda (gradcore) and torch_omp.py (PyTorch) on the same GPU"
"${mpirun[@]}" ${mpirun:+-np 1} build-gpu/bench_omp --device cuda | tee "$OUT/omp-h200.jsonl"
"${mpirun[@]}" ${mpirun:+-np 1} build-gpu/bench_omp --device cuda --batch 8 4000000:128:200 | tee -a "$OUT/omp-h200.jsonl"
python3 bench/omp/torch_omp.py | tee -a "$OUT/omp-h200.jsonl"
echo "=== bench_omp --device cpu ($(nproc) cores, smaller n)"
OMP_WAIT_POLICY=passive "${mpirun[@]}" ${mpirun:+-np 1} build-gpu/bench_omp --device cpu | tee "$OUT/omp-h200-cpu.jsonl"
echo "=== select --selector omp --device cuda, 1 rank"
"${mpirun[@]}" ${mpirun:+-np 1} build-gpu/gradcore select --device cuda --data synthetic:n=1000000,d=128,classes=10,seed=1 \
  --embedding features --selector omp --per-class off --k 200 --ridge 1e-3 --out /tmp/omp-select.h5 2>&1 |
  tee "$OUT/omp-select.txt"
