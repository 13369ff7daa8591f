#!/usr/bin/env bash
# OMP and CREST on one GPU (run ON the GPU machine from the repository root, with
# build-gpu/{gradcore,bench_omp,tests/gpu/test_omp_cuda} and the .deps bundle carried along). Each
# step has its own time limit and writes its result to $OUT as it finishes, so a slow step costs
# only itself: the CUDA-vs-CPU OMP test, bench_omp against the plain PyTorch OMP on the same GPU,
# a 1-rank `select --selector omp --device cuda`, and CREST at P = 1000, r = 5000, m = 128.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_omp build-gpu/tests/gpu/test_omp_cuda)
source scripts/gpu-env.sh
step test_omp_cuda 120 build-gpu/tests/gpu/test_omp_cuda
step bench_omp 200 bash -c "set -o pipefail; ${mpirun[*]} -np 1 build-gpu/bench_omp --device cuda | tee $OUT/omp-h200.jsonl"
step bench_omp_batch8 100 bash -c "set -o pipefail; ${mpirun[*]} -np 1 build-gpu/bench_omp --device cuda --batch 8 4000000:128:200 | tee -a $OUT/omp-h200.jsonl"
step torch_omp 150 bash -c "set -o pipefail; python3 bench/omp/torch_omp.py | tee -a $OUT/omp-h200.jsonl"
step select_omp_cuda 100 bash -c "set -o pipefail; ${mpirun[*]} -np 1 build-gpu/gradcore select --device cuda \
  --data synthetic:n=4000000,d=128,classes=10,seed=1 --embedding features --selector omp --per-class off --k 200 \
  --ridge 1e-3 --timings $OUT/omp-select-h200.json --out /tmp/omp-select.h5 2>&1 | tee $OUT/omp-select-h200.txt"
step crest 240 env GRADCORE=build-gpu/gradcore NP=1 THREADS=16 DEVICE=cuda bench/crest/bench_crest.sh "$OUT/crest-h200.txt"
